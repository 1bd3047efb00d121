// The run report's page: draws the task stream, the memory and CPU charts, the
// per-function table and the list of problems from the JSON in #data. Keys and
// messages are data: they only ever reach the page as textContent or attribute
// values, never as markup. Errors are recorded on <body data-errors> so a headless
// browser can read them back.
(function () {
  'use strict';
  var body = document.body;
  var errors = [];
  function fail(message) {
    errors.push(String(message));
    body.setAttribute('data-errors', errors.join(' | '));
  }
  window.addEventListener('error', function (e) { fail(e.message || e); });
  var started = performance.now();
  var D = JSON.parse(document.getElementById('data').textContent);
  var SVG = 'http://www.w3.org/2000/svg';
  // Okabe and Ito's colour-blind-safe set, then three of Paul Tol's; functions past
  // these share grey (the legend says so).
  var PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00',
    '#F0E442', '#882255', '#44AA99', '#999933'];
  var OTHER = '#BBBBBB';
  var LABEL_W = 170, LANE_H = 18, AXIS_H = 22;

  function color(f) { return f < PALETTE.length ? PALETTE[f] : OTHER; }
  function svg(tag, attrs, parent) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function html(tag, text, parent, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = text; }
    if (cls) { e.className = cls; }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function fmtMs(ms) {
    var v = Math.abs(ms);
    if (v >= 1000) { return (ms / 1000).toPrecision(3) + ' s'; }
    if (v >= 1) { return ms.toPrecision(3) + ' ms'; }
    if (v === 0) { return '0'; }
    return (ms * 1000).toPrecision(3) + ' µs';
  }
  function fmtBytes(b) {
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (Math.abs(b) >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return (i === 0 ? String(Math.round(b)) : b.toPrecision(3)) + ' ' + units[i];
  }
  function niceTicks(lo, hi, count) {
    var span = hi - lo;
    if (!(span > 0)) { return [lo]; }
    var step = Math.pow(10, Math.floor(Math.log10(span / count)));
    var err = span / count / step;
    if (err >= 7.5) { step *= 10; } else if (err >= 3.5) { step *= 5; } else if (err >= 1.5) { step *= 2; }
    var ticks = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) { ticks.push(t); }
    return ticks;
  }

  // Header and cards.
  document.getElementById('title').textContent = D.title;
  var executors = D.computations.map(function (c) {
    return c.executor + ' (' + c.workers + ' worker' + (c.workers === 1 ? '' : 's') + ')';
  });
  document.getElementById('summary').textContent = D.computations.length + ' computation' +
    (D.computations.length === 1 ? '' : 's') + (executors.length ? ': ' + executors.join(', ') : '') +
    '. Times from the first event; every bar is one task' + (D.detail ? '.' : ' group: past ' +
    'what a screen shows, tasks are summed into time bins per worker.');
  var cards = document.getElementById('cards');
  function card(value, label, bad) {
    var c = html('div', null, cards, bad ? 'card bad' : 'card');
    html('b', value, c);
    html('span', label, c);
  }
  var peakResults = Math.max.apply(null, [0].concat(D.held.results));
  var peakBytes = Math.max.apply(null, [0].concat(D.held.bytes));
  var peakRss = Math.max.apply(null, [0].concat(D.resources.rss));
  card(String(D.tasks), 'tasks ended');
  card(fmtMs(D.span), 'wall time');
  card(String(D.lanes.length), 'worker lanes');
  card(String(peakResults), 'most results held');
  card(fmtBytes(peakBytes), 'most bytes held (as results report them)');
  if (D.resources.t.length) { card(fmtBytes(peakRss), 'peak RSS of the process'); }
  card(String(D.failedCount), 'failed', D.failedCount > 0);
  card(String(D.retriedCount), 'run again after a worker was lost', D.retriedCount > 0);
  card(String(D.lostCount), 'workers lost', D.lostCount > 0);
  D.computations.forEach(function (c) {
    if (c.outcome !== 'done') { card(c.outcome, 'computation ' + c.id, true); }
  });

  // Function legend.
  var legend = document.getElementById('fn-legend');
  D.functions.forEach(function (name, f) {
    if (f >= PALETTE.length) { return; }
    var item = html('span', null, legend);
    var swatch = html('i', null, item);
    swatch.style.background = color(f);
    item.appendChild(document.createTextNode(name));
  });
  if (D.functions.length > PALETTE.length) {
    var other = html('span', null, legend);
    html('i', null, other).style.background = OTHER;
    other.appendChild(document.createTextNode((D.functions.length - PALETTE.length) + ' other functions'));
  }

  // Shared time view, zoomed by dragging on the stream.
  var view = { t0: 0, t1: D.span };
  var tip = document.getElementById('tip');
  var barCount = 0;

  function plotWidth(container) {
    return Math.max(320, (container.clientWidth || 900) - LABEL_W - 12);
  }
  function xOf(t, w) { return LABEL_W + (t - view.t0) / (view.t1 - view.t0) * w; }

  function axis(g, w, y) {
    var ticks = niceTicks(view.t0, view.t1, Math.max(2, Math.floor(w / 110)));
    var a = svg('g', { 'class': 'axis' }, g);
    svg('line', { x1: LABEL_W, x2: LABEL_W + w, y1: y, y2: y, stroke: '#999' }, a);
    ticks.forEach(function (t) {
      var x = xOf(t, w);
      svg('line', { x1: x, x2: x, y1: y, y2: y + 4, stroke: '#999' }, a);
      svg('text', { x: x, y: y + 15, 'text-anchor': 'middle' }, a).textContent = fmtMs(t);
    });
  }

  var stream = document.getElementById('stream');
  function drawStream() {
    stream.textContent = '';
    var w = plotWidth(stream);
    var lanes = D.lanes.length;
    var h = lanes * LANE_H + AXIS_H + 4;
    var s = svg('svg', { width: LABEL_W + w + 8, height: h, role: 'img' }, stream);
    var laneG = svg('g', { 'class': 'lane' }, s);
    D.lanes.forEach(function (name, i) {
      var y = i * LANE_H;
      if (i % 2 === 0) { svg('rect', { x: LABEL_W, y: y, width: w, height: LANE_H, fill: '#f3f4f6' }, laneG); }
      var label = svg('text', { x: LABEL_W - 6, y: y + 13, 'text-anchor': 'end' }, laneG);
      label.textContent = name.length > 26 ? name.slice(0, 25) + '…' : name;
      svg('title', {}, label).textContent = name;
    });
    var clip = 'clip-stream';
    var cp = svg('clipPath', { id: clip }, s);
    svg('rect', { x: LABEL_W, y: 0, width: w, height: lanes * LANE_H }, cp);
    var bars = svg('g', { 'clip-path': 'url(#' + clip + ')' }, s);
    var k = w / (view.t1 - view.t0);
    barCount = 0;
    var B = D.detail ? D.bars : D.bins;
    var n = B.lane.length;
    for (var i = 0; i < n; i++) {
      var start = B.start[i], dur = B.dur[i];
      if (start > view.t1 || start + dur < view.t0) { continue; }
      var attrs = {
        x: (LABEL_W + (start - view.t0) * k).toFixed(2),
        y: B.lane[i] * LANE_H + 2,
        width: Math.max(dur * k, 1).toFixed(2),
        height: LANE_H - 4,
        fill: color(B.fn[i]),
        'class': 'bar',
        'data-i': i
      };
      if (D.detail) {
        if (B.flags[i] & 1) { attrs.stroke = '#000'; attrs['stroke-width'] = 2; attrs['class'] = 'bar failed'; }
        else if (B.flags[i] & 2) { attrs.stroke = '#000'; attrs['stroke-dasharray'] = '3 2'; attrs['class'] = 'bar retried'; }
      } else {
        attrs['fill-opacity'] = Math.max(0.3, Math.min(1, B.busy[i] / dur)).toFixed(2);
      }
      svg('rect', attrs, bars);
      barCount++;
    }
    // Failures (a cross at the end of the bar), lost workers (a dashed line).
    D.failures.forEach(function (f, i) {
      var x = LABEL_W + (f.at - view.t0) * k;
      if (x < LABEL_W || x > LABEL_W + w) { return; }
      var y = f.lane * LANE_H + LANE_H / 2;
      svg('path', { d: 'M' + (x - 4) + ',' + (y - 4) + 'l8,8m0,-8l-8,8', stroke: '#b00020',
        'stroke-width': 2.5, 'class': 'mark', 'data-kind': 'failure', 'data-i': i }, bars);
    });
    D.lost.forEach(function (l, i) {
      var x = LABEL_W + (l.at - view.t0) * k;
      if (x < LABEL_W || x > LABEL_W + w) { return; }
      var y = l.lane * LANE_H;
      svg('line', { x1: x, x2: x, y1: y, y2: y + LANE_H, stroke: '#b00020', 'stroke-width': 3,
        'stroke-dasharray': '3 2', 'class': 'mark', 'data-kind': 'lost', 'data-i': i }, bars);
    });
    axis(s, w, lanes * LANE_H + 2);
    body.setAttribute('data-bars', String(barCount));
    brush(s, w, lanes * LANE_H);
  }

  function tipFor(target) {
    var kind = target.getAttribute('data-kind');
    var i = Number(target.getAttribute('data-i'));
    if (kind === 'failure') {
      var f = D.failures[i];
      return 'failed: ' + f.key + '\nworker: ' + D.lanes[f.lane] + '\nat ' + fmtMs(f.at) + '\n' + f.error;
    }
    if (kind === 'lost') {
      var l = D.lost[i];
      return 'worker lost: ' + l.worker + '\n' + l.ended + '\nat ' + fmtMs(l.at) +
        (l.key !== null ? '\nwhile running ' + l.key : '');
    }
    if (target.getAttribute('class') === null || target.getAttribute('class').indexOf('bar') !== 0) { return null; }
    if (D.detail) {
      var B = D.bars;
      var text = B.key[i] + '\nfunction: ' + D.functions[B.fn[i]] + '\nworker: ' + D.lanes[B.lane[i]] +
        '\nstart: ' + fmtMs(B.start[i]) + '\nduration: ' + fmtMs(B.dur[i]);
      if (B.flags[i] & 1) { text += '\nfailed'; }
      if (B.flags[i] & 2) { text += '\nrun again after its worker was lost'; }
      return text;
    }
    var G = D.bins;
    return G.count[i] + ' task' + (G.count[i] === 1 ? '' : 's') + ' started, mostly ' + D.functions[G.fn[i]] +
      '\nworker: ' + D.lanes[G.lane[i]] + '\nfrom ' + fmtMs(G.start[i]) + ' for ' + fmtMs(G.dur[i]) +
      '\nbusy: ' + fmtMs(G.busy[i]) + ' (' + Math.round(100 * G.busy[i] / G.dur[i]) + ' %)';
  }
  stream.addEventListener('mousemove', function (e) {
    var text = tipFor(e.target);
    if (text === null) { tip.hidden = true; return; }
    tip.textContent = text;
    tip.hidden = false;
    var x = Math.min(e.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    tip.style.left = x + 'px';
    tip.style.top = (e.clientY + 14) + 'px';
  });
  stream.addEventListener('mouseleave', function () { tip.hidden = true; });

  function brush(s, w, h) {
    var sel = null, x0 = 0;
    function at(e) {
      var r = s.getBoundingClientRect();
      return Math.max(LABEL_W, Math.min(LABEL_W + w, e.clientX - r.left));
    }
    s.addEventListener('mousedown', function (e) {
      x0 = at(e);
      sel = svg('rect', { x: x0, y: 0, width: 0, height: h, fill: '#0072B2', 'fill-opacity': 0.15 }, s);
    });
    s.addEventListener('mousemove', function (e) {
      if (!sel) { return; }
      var x1 = at(e);
      sel.setAttribute('x', Math.min(x0, x1));
      sel.setAttribute('width', Math.abs(x1 - x0));
    });
    s.addEventListener('mouseup', function (e) {
      if (!sel) { return; }
      var x1 = at(e);
      sel = null;
      if (Math.abs(x1 - x0) < 4) { drawStream(); return; }
      var span = view.t1 - view.t0;
      var a = view.t0 + (Math.min(x0, x1) - LABEL_W) / w * span;
      var b = view.t0 + (Math.max(x0, x1) - LABEL_W) / w * span;
      view = { t0: a, t1: b };
      drawAll();
    });
    s.addEventListener('dblclick', function () { view = { t0: 0, t1: D.span }; drawAll(); });
  }

  // Memory and CPU: one chart per quantity, on the stream's time axis.
  var charts = document.getElementById('charts');
  function chart(title, series, format) {
    var box = html('div', null, charts, 'chart');
    var w = plotWidth(charts), h = 90;
    var s = svg('svg', { width: LABEL_W + w + 8, height: h + AXIS_H + 6 }, box);
    var label = svg('text', { x: LABEL_W - 6, y: 14, 'text-anchor': 'end', 'font-size': 12 }, s);
    label.textContent = title;
    var max = 0;
    series.forEach(function (one) { one.v.forEach(function (v) { if (v > max) { max = v; } }); });
    if (!(max > 0)) { max = 1; }
    svg('text', { x: LABEL_W - 6, y: 30, 'text-anchor': 'end', 'font-size': 11, fill: '#5f6368' }, s)
      .textContent = 'max ' + format(max);
    svg('rect', { x: LABEL_W, y: 2, width: w, height: h, fill: '#fafafa', stroke: '#ddd' }, s);
    var k = w / (view.t1 - view.t0);
    var ly = 46;
    series.forEach(function (one) {
      var d = '', last = null;
      for (var i = 0; i < one.t.length; i++) {
        var x = LABEL_W + (one.t[i] - view.t0) * k;
        var y = 2 + h - one.v[i] / max * (h - 4);
        if (x < LABEL_W - 1 || x > LABEL_W + w + 1) { continue; }
        if (last === null) { d += 'M' + x.toFixed(1) + ',' + y.toFixed(1); }
        else if (one.step) { d += 'H' + x.toFixed(1) + 'V' + y.toFixed(1); }
        else { d += 'L' + x.toFixed(1) + ',' + y.toFixed(1); }
        last = y;
      }
      if (d) { svg('path', { d: d, fill: 'none', stroke: one.color, 'stroke-width': 1.6 }, s); }
      var key = svg('text', { x: LABEL_W - 6, y: ly, 'text-anchor': 'end', 'font-size': 11, fill: one.color }, s);
      key.textContent = '— ' + one.name;
      ly += 14;
    });
    axis(s, w, h + 4);
  }
  function drawCharts() {
    charts.textContent = '';
    chart('results held', [{ name: 'held by the loop', t: D.held.t, v: D.held.results, color: '#0072B2', step: true }],
      function (v) { return String(Math.round(v)); });
    var mem = [{ name: 'results (reported)', t: D.held.t, v: D.held.bytes, color: '#0072B2', step: true }];
    if (D.resources.t.length) { mem.push({ name: 'process RSS', t: D.resources.t, v: D.resources.rss, color: '#D55E00' }); }
    chart('memory', mem, fmtBytes);
    if (D.resources.t.length) {
      chart('CPU', [{ name: 'process CPU %', t: D.resources.t, v: D.resources.cpu, color: '#009E73' }],
        function (v) { return v.toFixed(0) + ' %'; });
    } else {
      html('p', 'No CPU or RSS samples (a ResourceProfiler samples them on Linux).', charts, 'hint');
    }
  }

  // Per-function table, sortable.
  var table = document.getElementById('functions');
  var columns = [
    ['function', 'fn', function (r) { return r.fn; }],
    ['tasks', 'count', String],
    ['total', 'total', fmtMs],
    ['mean', 'mean', fmtMs],
    ['max', 'max', fmtMs],
    ['failed', 'failed', String],
    ['run again', 'retried', String]
  ];
  var sortBy = 'total', descending = true;
  function drawTable() {
    table.textContent = '';
    var head = html('tr', null, html('thead', null, table));
    columns.forEach(function (c) {
      var th = html('th', c[0], head);
      if (c[1] === sortBy) {
        th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
        th.setAttribute('data-arrow', descending ? ' ▾' : ' ▴');
      }
      th.addEventListener('click', function () {
        descending = sortBy === c[1] ? !descending : c[1] !== 'fn';
        sortBy = c[1];
        drawTable();
      });
    });
    var rows = D.table.slice().sort(function (a, b) {
      var x = a[sortBy], y = b[sortBy];
      var order = x < y ? -1 : x > y ? 1 : 0;
      return descending ? -order : order;
    });
    var tbody = html('tbody', null, table);
    rows.forEach(function (r) {
      var tr = html('tr', null, tbody);
      columns.forEach(function (c, i) {
        var value = i === 0 ? r.fn : c[2](r[c[1]]);
        var td = html('td', value, tr);
        if (i === 0) {
          var f = D.functions.indexOf(r.fn);
          var sw = document.createElement('i');
          sw.style.cssText = 'display:inline-block;width:10px;height:10px;margin-right:6px;border-radius:2px;background:' + color(f);
          td.insertBefore(sw, td.firstChild);
        }
      });
    });
  }

  // Problems, listed.
  var problems = document.getElementById('problems');
  D.failures.forEach(function (f) {
    html('li', 'failed at ' + fmtMs(f.at) + ' on ' + D.lanes[f.lane] + ': ' + f.key + ': ' + f.error, problems);
  });
  D.retries.forEach(function (r) {
    html('li', 'run again after ' + r.runs + ' lost run' + (r.runs === 1 ? '' : 's') + ': ' + r.key +
      ' (started ' + fmtMs(r.at) + ' on ' + D.lanes[r.lane] + ')', problems);
  });
  D.lost.forEach(function (l) {
    html('li', 'worker lost at ' + fmtMs(l.at) + ': ' + l.worker + ' ' + l.ended +
      (l.key !== null ? ' (running ' + l.key + ')' : ''), problems);
  });
  if (!problems.firstChild) { html('li', 'none: no task failed, no worker was lost.', problems); }

  function drawAll() { drawStream(); drawCharts(); }
  drawAll();
  drawTable();
  var resized = null;
  window.addEventListener('resize', function () {
    clearTimeout(resized);
    resized = setTimeout(drawAll, 150);
  });
  body.setAttribute('data-render-ms', (performance.now() - started).toFixed(1));
  body.setAttribute('data-ready', '1');
})();
