//! The PyO3 layer: `sfumato._ops`.
//!
//! Images come in as numpy arrays H×W×C (or H×W for one channel) of `uint8`
//! or `float32`, borrowed read-only without a copy; a non-contiguous array is
//! copied once into C order first. Results are new arrays (H×W in, H×W out
//! while the result has one channel). Every kernel runs with the GIL released
//! on the crate's thread pool.
use numpy::ndarray::{ArrayViewD, CowArray, IxDyn};
use numpy::{IntoPyArray, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::error::OpsError;
use crate::image::{Image, ImageView, Sample};

pyo3::create_exception!(
    sfumato._ops,
    ImageDecodeError,
    PyValueError,
    "The encoded image is corrupt, truncated or not supported."
);
pyo3::create_exception!(
    sfumato._ops,
    ImageTooLargeError,
    PyValueError,
    "The image's dimensions exceed the allowed number of pixels."
);

fn to_py_err(e: OpsError) -> PyErr {
    match e {
        OpsError::InvalidArgument(m) => PyValueError::new_err(m),
        OpsError::Decode(m) => ImageDecodeError::new_err(m),
        OpsError::TooLarge(m) => ImageTooLargeError::new_err(m),
    }
}

/// The (height, width, channels) of an image array, and whether it was 2-D.
fn image_shape(shape: &[usize]) -> PyResult<(usize, usize, usize, bool)> {
    match *shape {
        [h, w] => Ok((h, w, 1, true)),
        [h, w, c] => Ok((h, w, c, false)),
        _ => Err(PyValueError::new_err(format!(
            "expected an H×W×C image array (C = 1, 3 or 4), got shape {shape:?}"
        ))),
    }
}

fn to_numpy<'py, T: Sample + numpy::Element>(py: Python<'py>, img: Image<T>, two_d: bool) -> PyResult<Bound<'py, PyAny>> {
    let shape = if two_d && img.channels == 1 {
        vec![img.height, img.width]
    } else {
        vec![img.height, img.width, img.channels]
    };
    let array = numpy::ndarray::ArrayD::from_shape_vec(IxDyn(&shape), img.data)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(array.into_pyarray(py).into_any())
}

/// A contiguous view of a numpy array: borrowed when already C-ordered.
fn contiguous<'a, T: Clone>(view: ArrayViewD<'a, T>) -> CowArray<'a, T, IxDyn> {
    if view.is_standard_layout() {
        CowArray::from(view)
    } else {
        CowArray::from(view.as_standard_layout().into_owned())
    }
}

/// Runs `$body` with `$view` bound to an `ImageView` of `$img` (uint8 or
/// float32), the GIL released and the pool installed; converts the resulting
/// `Image` back to numpy.
macro_rules! with_image {
    ($py:expr, $img:expr, |$view:ident| $body:expr) => {{
        let py: Python<'_> = $py;
        let img: &Bound<'_, PyAny> = $img;
        if let Ok(array) = img.extract::<PyReadonlyArrayDyn<'_, u8>>() {
            let (h, w, c, two_d) = image_shape(array.shape())?;
            let data = contiguous(array.as_array());
            let slice = data.as_slice().expect("standard layout is contiguous");
            let out = py
                .detach(|| {
                    crate::parallel::run(|| {
                        let $view = ImageView::<u8>::new(slice, h, w, c)?;
                        $body
                    })
                })
                .map_err(to_py_err)?;
            to_numpy(py, out, two_d)
        } else if let Ok(array) = img.extract::<PyReadonlyArrayDyn<'_, f32>>() {
            let (h, w, c, two_d) = image_shape(array.shape())?;
            let data = contiguous(array.as_array());
            let slice = data.as_slice().expect("standard layout is contiguous");
            let out = py
                .detach(|| {
                    crate::parallel::run(|| {
                        let $view = ImageView::<f32>::new(slice, h, w, c)?;
                        $body
                    })
                })
                .map_err(to_py_err)?;
            to_numpy(py, out, two_d)
        } else {
            Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "expected a uint8 or float32 numpy array, got {}",
                describe(img)
            )))
        }
    }};
}

/// Where a kernel's body runs (see `with_output!`).
#[derive(Clone, Copy, PartialEq)]
enum Placement {
    /// On the pool (kernels that compute rather than copy, with rayon iterators).
    Pool,
    /// On the calling thread: the kernel shares large work with the pool
    /// itself (`parallel::share_tasks`) or is too short to hand over.
    Caller,
}

/// Runs a kernel that writes straight into a new numpy array: `$shape`
/// (evaluated with `$view` bound, GIL held) gives the output's
/// `Result<(height, width, channels)>`; `$body` fills `$dst` with the GIL
/// released, on the pool with `pool`, else on the calling thread.
macro_rules! with_output {
    ($py:expr, $img:expr, |$view:ident| $shape:expr, |$dst:ident| $body:expr) => {
        with_output!(@any Placement::Caller, $py, $img, |$view| $shape, |$dst| $body)
    };
    (pool, $py:expr, $img:expr, |$view:ident| $shape:expr, |$dst:ident| $body:expr) => {
        with_output!(@any Placement::Pool, $py, $img, |$view| $shape, |$dst| $body)
    };
    (@any $pool:expr, $py:expr, $img:expr, |$view:ident| $shape:expr, |$dst:ident| $body:expr) => {{
        let py: Python<'_> = $py;
        let img: &Bound<'_, PyAny> = $img;
        if let Ok(array) = img.extract::<PyReadonlyArrayDyn<'_, u8>>() {
            with_output!(@typed $pool, py, img, array, u8, |$view| $shape, |$dst| $body)
        } else if let Ok(array) = img.extract::<PyReadonlyArrayDyn<'_, f32>>() {
            with_output!(@typed $pool, py, img, array, f32, |$view| $shape, |$dst| $body)
        } else {
            Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "expected a uint8 or float32 numpy array, got {}",
                describe(img)
            )))
        }
    }};
    (@typed $pool:expr, $py:ident, $img:ident, $array:ident, $t:ty, |$view:ident| $shape:expr, |$dst:ident| $body:expr) => {{
        let (h, w, c, two_d) = image_shape($array.shape())?;
        let data = contiguous($array.as_array());
        let slice = data.as_slice().expect("standard layout is contiguous");
        let $view = ImageView::<$t>::new(slice, h, w, c).map_err(to_py_err)?;
        let (oh, ow, oc): (usize, usize, usize) = $shape.map_err(to_py_err)?;
        let dims = if two_d && oc == 1 { vec![oh, ow] } else { vec![oh, ow, oc] };
        // SAFETY: the array is filled completely by `$body` before Python sees it
        // (on error it is dropped unread); u8 and f32 have no invalid bit patterns.
        let out = unsafe { numpy::PyArray::<$t, IxDyn>::new($py, dims, false) };
        let len = oh * ow * oc;
        let ptr = numpy::PyArrayMethods::data(&out) as usize;
        $py.detach(|| {
            // SAFETY: `out` owns `len` contiguous elements at `ptr`, alive while
            // we hold it, and nothing else touches them until we return.
            let $dst: &mut [$t] = unsafe { std::slice::from_raw_parts_mut(ptr as *mut $t, len) };
            if $pool == Placement::Pool {
                crate::parallel::run(|| $body)
            } else {
                $body
            }
        })
        .map_err(to_py_err)?;
        Ok(out.into_any())
    }};
}

fn describe(obj: &Bound<'_, PyAny>) -> String {
    match obj.getattr("dtype") {
        Ok(dtype) => format!("an array of {dtype}"),
        Err(_) => obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "an object".into()),
    }
}

fn text_pairs(text: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, String)>> {
    let Some(text) = text else { return Ok(Vec::new()) };
    if text.is_none() {
        return Ok(Vec::new());
    }
    let mut pairs = Vec::new();
    for item in text.call_method0("items")?.try_iter()? {
        pairs.push(item?.extract::<(String, String)>()?);
    }
    Ok(pairs)
}

#[pymodule]
pub mod _ops {
    use super::*;
    use crate::blur::{gaussian_blur_into, Direction};
    use crate::channels::ChannelSource;
    use crate::pointwise::{Levels, Pointwise};
    use crate::resize::{Filter, Mode};

    #[pymodule_export]
    use super::ImageDecodeError;
    #[pymodule_export]
    use super::ImageTooLargeError;

    /// Version of the native extension.
    #[pyfunction]
    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    /// Caps the kernels' thread pool at `n` threads (0 = one per CPU).
    #[pyfunction]
    fn set_num_threads(n: usize) {
        crate::parallel::set_num_threads(n);
    }

    /// Threads the kernels' pool runs.
    #[pyfunction]
    fn num_threads() -> usize {
        crate::parallel::num_threads()
    }

    /// Gaussian blur; direction 0 NONE, 1 UP, 2 DOWN.
    #[pyfunction]
    #[pyo3(signature = (img, sigma, direction = 0, *, include_alpha = false))]
    fn blur<'py>(
        py: Python<'py>,
        img: &Bound<'py, PyAny>,
        sigma: f64,
        direction: i64,
        include_alpha: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let direction = Direction::from_code(direction).map_err(to_py_err)?;
        with_output!(pool, py, img, |view| Ok::<_, OpsError>((view.height, view.width, view.channels)), |dst| {
            gaussian_blur_into(view, sigma, direction, include_alpha, dst)
        })
    }

    /// `1 − x` on colour channels.
    #[pyfunction]
    #[pyo3(signature = (img, *, include_alpha = false))]
    fn invert<'py>(py: Python<'py>, img: &Bound<'py, PyAny>, include_alpha: bool) -> PyResult<Bound<'py, PyAny>> {
        with_output!(py, img, |view| Ok::<_, OpsError>((view.height, view.width, view.channels)), |dst| {
            Pointwise::invert_into(view, include_alpha, dst);
            Ok::<(), OpsError>(())
        })
    }

    /// `clamp((x − in_low)/(in_high − in_low)·(out_high − out_low) + out_low)` in 0..1 units.
    #[pyfunction]
    #[pyo3(signature = (img, input_low, input_high, output_low, output_high, *, include_alpha = false))]
    fn levels<'py>(
        py: Python<'py>,
        img: &Bound<'py, PyAny>,
        input_low: f64,
        input_high: f64,
        output_low: f64,
        output_high: f64,
        include_alpha: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let params = Levels { input_low, input_high, output_low, output_high };
        params.validate().map_err(to_py_err)?;
        with_image!(py, img, |view| Pointwise::levels(view, &params, include_alpha))
    }

    /// Rebuilds the channels from `sources` (4 ChannelSource numbers for r, g, b, a).
    #[pyfunction]
    fn channels<'py>(py: Python<'py>, img: &Bound<'py, PyAny>, sources: Vec<i64>) -> PyResult<Bound<'py, PyAny>> {
        let [r, g, b, a] = <[i64; 4]>::try_from(sources.as_slice())
            .map_err(|_| PyValueError::new_err(format!("sources needs 4 entries (r, g, b, a), got {}", sources.len())))?;
        let mut resolved = [ChannelSource::R; 4];
        for (slot, code) in resolved.iter_mut().zip([r, g, b, a]) {
            *slot = ChannelSource::from_code(code).map_err(to_py_err)?;
        }
        let out_channels = crate::channels::output_channels(&resolved).map_err(to_py_err)?;
        with_output!(py, img, |view| Ok::<_, OpsError>((view.height, view.width, out_channels)), |dst| {
            crate::channels::channels_into(view, &resolved, dst)
        })
    }

    /// Resamples to width × height; mode 0 STRICT, 2 CROP, 3 FIT.
    #[pyfunction]
    #[pyo3(signature = (img, width, height, mode = 0, filter = "lanczos"))]
    fn rescale<'py>(
        py: Python<'py>,
        img: &Bound<'py, PyAny>,
        width: usize,
        height: usize,
        mode: i64,
        filter: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mode = Mode::from_code(mode).map_err(to_py_err)?;
        let filter = Filter::from_name(filter).ok_or_else(|| {
            PyValueError::new_err(format!(
                "unknown filter {filter:?} (expected lanczos, bicubic, bilinear, nearest or area)"
            ))
        })?;
        // `rescale_into` puts the filtered paths on the pool; area halving starts here.
        with_output!(
            py,
            img,
            |view| crate::resize::rescale_shape(view.channels, width, height, mode),
            |dst| crate::resize::rescale_into(view, width, height, mode, filter, dst)
        )
    }

    /// Copies the region `height` rows × `width` columns at (`top`, `left`).
    #[pyfunction]
    fn crop<'py>(
        py: Python<'py>,
        img: &Bound<'py, PyAny>,
        top: usize,
        left: usize,
        width: usize,
        height: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        with_output!(
            py,
            img,
            |view| crate::crop::crop_region(view, top, left, width, height).map(|_| (height, width, view.channels)),
            |dst| crate::crop::crop_into(view, top, left, width, height, dst)
        )
    }

    /// Encodes a uint8 image as PNG, with `text` as tEXt/iTXt chunks.
    #[pyfunction]
    #[pyo3(signature = (img, fast = false, text = None))]
    fn encode_png<'py>(
        py: Python<'py>,
        img: PyReadonlyArrayDyn<'py, u8>,
        fast: bool,
        text: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
        let pairs = text_pairs(text)?;
        let (h, w, c, _) = image_shape(img.shape())?;
        let data = contiguous(img.as_array());
        let slice = data.as_slice().expect("standard layout is contiguous");
        // The encoder shares its slices with the pool itself (`parallel::share_tasks`).
        let encoded = py
            .detach(|| {
                let view = ImageView::new(slice, h, w, c)?;
                crate::png_codec::encode_png(view, fast, &pairs)
            })
            .map_err(to_py_err)?;
        Ok(pyo3::types::PyBytes::new(py, &encoded))
    }

    /// Decodes a PNG to H×W×C uint8, refusing images above `max_pixels`.
    #[pyfunction]
    fn decode_png<'py>(py: Python<'py>, data: &[u8], max_pixels: u64) -> PyResult<Bound<'py, PyAny>> {
        let img = py.detach(|| crate::png_codec::decode_png(data, max_pixels)).map_err(to_py_err)?;
        to_numpy(py, img, false)
    }

    /// (width, height) from the PNG header.
    #[pyfunction]
    fn png_info(data: &[u8]) -> PyResult<(u32, u32)> {
        crate::png_codec::png_info(data).map_err(to_py_err)
    }
}
