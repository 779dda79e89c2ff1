//! Cropping to a region that lies fully inside the image.
use crate::error::{OpsError, Result};
use crate::image::{Image, ImageView, Sample};

/// Checks that the region lies fully inside the image.
pub fn crop_region<T: Sample>(src: ImageView<'_, T>, top: usize, left: usize, width: usize, height: usize) -> Result<()> {
    let fits = |start: usize, len: usize, limit: usize| start.checked_add(len).is_some_and(|end| end <= limit);
    if width == 0 || height == 0 || !fits(top, height, src.height) || !fits(left, width, src.width) {
        return Err(OpsError::invalid(format!(
            "crop region {width}x{height} at top={top}, left={left} is not inside the {}x{} image",
            src.width, src.height
        )));
    }
    Ok(())
}

pub fn crop<T: Sample>(src: ImageView<'_, T>, top: usize, left: usize, width: usize, height: usize) -> Result<Image<T>> {
    crop_region(src, top, left, width, height)?;
    let c = src.channels;
    let mut data = Vec::with_capacity(width * height * c);
    for y in top..top + height {
        data.extend_from_slice(&src.row(y)[left * c..(left + width) * c]);
    }
    Ok(Image { data, height, width, channels: c })
}

/// `crop` into `dst` (height × width × channels).
pub fn crop_into<T: Sample>(
    src: ImageView<'_, T>,
    top: usize,
    left: usize,
    width: usize,
    height: usize,
    dst: &mut [T],
) -> Result<()> {
    crop_region(src, top, left, width, height)?;
    let c = src.channels;
    for (y, d) in (top..top + height).zip(dst.chunks_exact_mut(width * c)) {
        d.copy_from_slice(&src.row(y)[left * c..(left + width) * c]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_inside_and_refuses_outside() {
        let px: Vec<u8> = (0..24).collect();
        let img = ImageView::new(&px, 2, 4, 3).unwrap();
        let out = crop(img, 1, 1, 2, 1).unwrap();
        assert_eq!((out.height, out.width), (1, 2));
        assert_eq!(out.data, img.row(1)[3..9].to_vec());
        assert!(crop(img, 0, 0, img.width + 1, 1).is_err());
        assert!(crop(img, img.height, 0, 1, 1).is_err());
        assert!(crop(img, 0, 0, 0, 1).is_err());
        assert!(crop(img, usize::MAX, 0, 1, 1).is_err());
    }
}
