//! [`ColorMap`]: the perceptually uniform, colour-blind-safe colour maps pictures use.
//!
//! A picture that colours tasks by a number (their rank in the plan, the results
//! held, their run time) needs a map whose lightness rises evenly with the number,
//! so equal steps look equal and the picture still reads in grey or to a reader with
//! a colour vision deficiency: viridis (the default) and cividis, designed for
//! that. Rainbow maps (graphviz's and Dask's defaults) have neither property.
//!
//! Each map is kept as 33 colours sampled evenly from its published 256-entry table
//! (viridis: Stéfan van der Walt and Nathaniel Smith, CC0; cividis: Nuñez, Anderton
//! and Renslow, PLoS ONE 2018), interpolated linearly in between: the largest
//! difference from the full table is one unit of 255 per channel.

use std::fmt;

/// A colour map for numbers in `0.0..=1.0`.
///
/// ```
/// use taskloom::diagnostics::picture::{ColorMap, Rgb};
///
/// assert_eq!(ColorMap::Viridis.at(0.0), Rgb(0x44, 0x01, 0x54));
/// assert_eq!(ColorMap::Viridis.at(1.0).to_string(), "#fde725");
/// // Lightness rises with the number.
/// assert!(ColorMap::Cividis.at(0.9).luminance() > ColorMap::Cividis.at(0.1).luminance());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ColorMap {
    /// Dark blue-purple through teal to yellow (matplotlib's default map).
    #[default]
    Viridis,
    /// Dark blue through grey to yellow: made for readers with red-green colour
    /// vision deficiencies, and nearly the same to every reader.
    Cividis,
}

/// An sRGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// Relative luminance (WCAG), from 0 (black) to 1 (white).
    pub fn luminance(self) -> f64 {
        fn linear(c: u8) -> f64 {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        }
        0.2126 * linear(self.0) + 0.7152 * linear(self.1) + 0.0722 * linear(self.2)
    }

    /// Black or white, whichever reads better on this colour (by WCAG contrast).
    pub fn text_color(self) -> Rgb {
        // Contrast with black: (L + 0.05) / 0.05; with white: 1.05 / (L + 0.05).
        let l = self.luminance();
        if (l + 0.05) * (l + 0.05) > 0.05 * 1.05 {
            Rgb(0, 0, 0)
        } else {
            Rgb(255, 255, 255)
        }
    }
}

impl fmt::Display for Rgb {
    /// `#rrggbb`, as DOT, SVG and CSS write colours.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

impl ColorMap {
    /// The colour of `t`, clamped to `0.0..=1.0` (NaN counts as 0).
    pub fn at(self, t: f64) -> Rgb {
        let table = self.table();
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        let steps = (table.len() - 1) as f64;
        let x = t * steps;
        let i = (x.floor() as usize).min(table.len() - 2);
        let f = x - i as f64;
        let (a, b) = (unpack(table[i]), unpack(table[i + 1]));
        let mix = |p: u8, q: u8| (f64::from(p) + (f64::from(q) - f64::from(p)) * f).round() as u8;
        Rgb(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }

    /// The map's name, as Matplotlib spells it.
    pub fn name(self) -> &'static str {
        match self {
            ColorMap::Viridis => "viridis",
            ColorMap::Cividis => "cividis",
        }
    }

    fn table(self) -> &'static [u32; 33] {
        match self {
            ColorMap::Viridis => &VIRIDIS,
            ColorMap::Cividis => &CIVIDIS,
        }
    }
}

fn unpack(c: u32) -> Rgb {
    Rgb((c >> 16) as u8, (c >> 8) as u8, c as u8)
}

const VIRIDIS: [u32; 33] = [
    0x440154, 0x470d60, 0x48186a, 0x482374, 0x472d7b, 0x453781, 0x424086, 0x3e4989, 0x3b528b,
    0x375b8d, 0x33638d, 0x2f6b8e, 0x2c728e, 0x297a8e, 0x26828e, 0x23898e, 0x21918c, 0x1f978b,
    0x1f9f88, 0x21a685, 0x27ad81, 0x31b57b, 0x3dbc74, 0x4cc26c, 0x5cc863, 0x6ece58, 0x81d34d,
    0x95d840, 0xaadc32, 0xc0df25, 0xd5e21a, 0xeae51a, 0xfde725,
];

const CIVIDIS: [u32; 33] = [
    0x00224e, 0x00285b, 0x002e6a, 0x053371, 0x1a386f, 0x273e6e, 0x32436d, 0x3b496c, 0x434e6c,
    0x4b546c, 0x535a6d, 0x5a5f6e, 0x61656f, 0x686a71, 0x6f7073, 0x767676, 0x7d7c78, 0x838179,
    0x8b8778, 0x928d78, 0x9a9376, 0xa29975, 0xaaa073, 0xb3a670, 0xbbad6d, 0xc3b369, 0xccba64,
    0xd4c15f, 0xddc858, 0xe6d051, 0xefd748, 0xf8df3c, 0xfee838,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lightness_rises_evenly_with_the_number() {
        for map in [ColorMap::Viridis, ColorMap::Cividis] {
            let l: Vec<f64> = (0..=32)
                .map(|i| map.at(f64::from(i) / 32.0).luminance())
                .collect();
            assert!(l.windows(2).all(|w| w[1] > w[0]), "{map:?}: {l:?}");
        }
    }

    #[test]
    fn ends_and_middle_are_the_published_colours() {
        assert_eq!(ColorMap::Viridis.at(0.5).to_string(), "#21918c");
        assert_eq!(ColorMap::Cividis.at(0.0).to_string(), "#00224e");
        assert_eq!(ColorMap::Cividis.at(2.0).to_string(), "#fee838");
        assert_eq!(ColorMap::Viridis.at(f64::NAN), ColorMap::Viridis.at(0.0));
    }

    #[test]
    fn text_is_white_on_dark_and_black_on_light() {
        assert_eq!(ColorMap::Viridis.at(0.0).text_color(), Rgb(255, 255, 255));
        assert_eq!(ColorMap::Viridis.at(1.0).text_color(), Rgb(0, 0, 0));
    }
}
