//! Runtime CPU dispatch. Wheels are built for baseline x86-64 (SSE2); the hot
//! loops are written so LLVM vectorises them, and `multiversion!` compiles
//! more copies of such a function, with AVX2+FMA and with AVX-512, picked at
//! run time.

/// Defines `fn name(..)` whose body is compiled three times: portable, with
/// `avx2,fma`, and with AVX-512 (F, BW, VL) on x86-64, and runs the best copy
/// the CPU supports. Helpers the body calls should be `#[inline(always)]` so
/// they are compiled into each copy.
///
/// Generic functions list their parameters in brackets and the arguments that
/// name them in a second pair: `fn f[T: Sample, const N: usize][T, N](..)`.
macro_rules! multiversion {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident <$($gen:ident : $bound:path),*> ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)?
        $body:block
    ) => {
        $crate::simd::multiversion! {
            $(#[$meta])*
            $vis fn $name [$($gen: $bound),*] [$($gen),*] ($($arg: $ty),*) $(-> $ret)? $body
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident $([$($gen:tt)*] [$($garg:tt)*])? ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)?
        $body:block
    ) => {
        $(#[$meta])*
        $vis fn $name $(<$($gen)*>)? ($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn portable $(<$($gen)*>)? ($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn avx2 $(<$($gen)*>)? ($($arg: $ty),*) $(-> $ret)? {
                portable $(::<$($garg)*>)? ($($arg),*)
            }

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
            fn avx512 $(<$($gen)*>)? ($($arg: $ty),*) $(-> $ret)? {
                portable $(::<$($garg)*>)? ($($arg),*)
            }

            #[cfg(target_arch = "x86_64")]
            {
                if $crate::simd::has_avx512() {
                    // SAFETY: `avx512` only needs CPU features `has_avx512` just confirmed.
                    return unsafe { avx512 $(::<$($garg)*>)? ($($arg),*) };
                }
                if $crate::simd::has_avx2() {
                    // SAFETY: `avx2` only needs CPU features `has_avx2` just confirmed.
                    return unsafe { avx2 $(::<$($garg)*>)? ($($arg),*) };
                }
            }
            portable $(::<$($garg)*>)? ($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// Runs `$kernel::<V, ..>(args)` with the widest vector type this CPU runs:
/// `$wide` with AVX-512, `$narrow` with AVX2+FMA, else evaluates
/// `$portable`. The kernel should be `#[inline(always)]` so it is compiled
/// with each tier's features.
macro_rules! with_vectors {
    (
        $kernel:ident [$($gen:tt)*] [$($garg:tt)*] ($($arg:ident : $ty:ty),*) $(-> $ret:ty)?;
        $wide:ty, $narrow:ty, $portable:expr
    ) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
            fn avx512<$($gen)*>($($arg: $ty),*) $(-> $ret)? {
                $kernel::<$wide, $($garg)*>($($arg),*)
            }
            #[target_feature(enable = "avx2,fma")]
            fn avx2<$($gen)*>($($arg: $ty),*) $(-> $ret)? {
                $kernel::<$narrow, $($garg)*>($($arg),*)
            }
            if $crate::simd::has_avx512() {
                // SAFETY: `avx512` only needs CPU features `has_avx512` just confirmed.
                return unsafe { avx512::<$($garg)*>($($arg),*) };
            }
            if $crate::simd::has_avx2() {
                // SAFETY: `avx2` only needs CPU features `has_avx2` just confirmed.
                return unsafe { avx2::<$($garg)*>($($arg),*) };
            }
        }
        $portable
    }};
}
pub(crate) use with_vectors;

/// Instruction-set tiers the kernels are compiled for, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    Portable = 0,
    Avx2 = 1,
    Avx512 = 2,
}

/// The highest tier kernels may use (tests lower it to cover every copy).
static LEVEL_CAP: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(SimdLevel::Avx512 as u8);

/// Limits the kernels to `level` and below (whatever the CPU supports).
/// Results agree across tiers to float rounding.
pub fn cap_level(level: SimdLevel) {
    LEVEL_CAP.store(level as u8, std::sync::atomic::Ordering::Relaxed);
}

/// The best tier this CPU runs, detected once (`u8::MAX` until then).
#[cfg(target_arch = "x86_64")]
static DETECTED: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(u8::MAX);

/// The tier kernels use: what the CPU runs, within the cap. Cheap enough for
/// the per-row dispatch of the tiled kernels (two relaxed loads).
#[cfg(target_arch = "x86_64")]
#[inline]
fn level() -> u8 {
    use std::sync::atomic::Ordering::Relaxed;
    let mut detected = DETECTED.load(Relaxed);
    if detected == u8::MAX {
        let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        let avx512 = avx2
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl");
        detected = if avx512 {
            SimdLevel::Avx512
        } else if avx2 {
            SimdLevel::Avx2
        } else {
            SimdLevel::Portable
        } as u8;
        DETECTED.store(detected, Relaxed);
    }
    detected.min(LEVEL_CAP.load(Relaxed))
}

/// Whether kernels may use AVX2 and FMA (the CPU has them, the cap allows them).
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx2() -> bool {
    level() >= SimdLevel::Avx2 as u8
}

/// Whether kernels may use the AVX-512 subsets they are built for (F, BW, VL).
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx512() -> bool {
    level() >= SimdLevel::Avx512 as u8
}

/// A register of `f32` lanes, for kernels written once over the vector width
/// (AVX-512, AVX2+FMA, or a portable stand-in the compiler vectorises).
/// Every method is only called where the type's CPU features are enabled.
pub(crate) trait F32Vec: Copy {
    const LANES: usize;
    /// # Safety
    /// `p` points at `LANES` readable floats.
    unsafe fn load(p: *const f32) -> Self;
    /// # Safety
    /// `p` points at `LANES` readable bytes.
    unsafe fn load_u8(p: *const u8) -> Self;
    /// # Safety
    /// `p` points at `LANES` writable floats.
    unsafe fn store(self, p: *mut f32);
    fn splat(v: f32) -> Self;
    fn add(self, b: Self) -> Self;
    fn mul(self, b: Self) -> Self;
    /// `self·b + c`
    fn mul_add(self, b: Self, c: Self) -> Self;
    /// `c − self·b`
    fn neg_mul_add(self, b: Self, c: Self) -> Self;
    fn max(self, b: Self) -> Self;
    fn min(self, b: Self) -> Self;
}

/// Portable eight lanes.
#[derive(Clone, Copy)]
pub(crate) struct Portable8([f32; 8]);

impl F32Vec for Portable8 {
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller passes 8 readable floats.
        Portable8(unsafe { p.cast::<[f32; 8]>().read_unaligned() })
    }
    #[inline(always)]
    unsafe fn load_u8(p: *const u8) -> Self {
        // SAFETY: the caller passes 8 readable bytes.
        let bytes = unsafe { p.cast::<[u8; 8]>().read_unaligned() };
        Portable8(bytes.map(f32::from))
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller passes 8 writable floats.
        unsafe { p.cast::<[f32; 8]>().write_unaligned(self.0) }
    }
    #[inline(always)]
    fn splat(v: f32) -> Self {
        Portable8([v; 8])
    }
    #[inline(always)]
    fn add(self, b: Self) -> Self {
        Portable8(std::array::from_fn(|i| self.0[i] + b.0[i]))
    }
    #[inline(always)]
    fn mul(self, b: Self) -> Self {
        Portable8(std::array::from_fn(|i| self.0[i] * b.0[i]))
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        Portable8(std::array::from_fn(|i| self.0[i] * b.0[i] + c.0[i]))
    }
    #[inline(always)]
    fn neg_mul_add(self, b: Self, c: Self) -> Self {
        Portable8(std::array::from_fn(|i| c.0[i] - self.0[i] * b.0[i]))
    }
    #[inline(always)]
    fn max(self, b: Self) -> Self {
        Portable8(std::array::from_fn(|i| if self.0[i] > b.0[i] { self.0[i] } else { b.0[i] }))
    }
    #[inline(always)]
    fn min(self, b: Self) -> Self {
        Portable8(std::array::from_fn(|i| if self.0[i] < b.0[i] { self.0[i] } else { b.0[i] }))
    }
}

/// A register of `u16` lanes for the fixed-point kernels (x86-64 only).
#[cfg(target_arch = "x86_64")]
pub(crate) trait U16Vec: Copy {
    const LANES: usize;
    /// # Safety
    /// `p` points at `LANES` readable values.
    unsafe fn load(p: *const u16) -> Self;
    /// # Safety
    /// `p` points at room for `LANES` values.
    unsafe fn store(self, p: *mut u16);
    /// Saturates each lane to `u8`.
    /// # Safety
    /// `p` points at room for `LANES` bytes.
    unsafe fn store_u8_saturated(self, p: *mut u8);
    fn splat(v: u16) -> Self;
    /// Wrapping add.
    fn add(self, b: Self) -> Self;
    /// `(self·b) >> 16`, unsigned.
    fn mulhi(self, b: Self) -> Self;
    /// `(self + b + 1) >> 1`, unsigned, without overflow.
    fn avg(self, b: Self) -> Self;
    fn shl<const N: u32>(self) -> Self;
    fn shr<const N: u32>(self) -> Self;
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{F32Vec, U16Vec};
    use std::arch::x86_64::*;

    // SAFETY (all methods): only called from code compiled with AVX2+FMA
    // (`__m256`) or AVX-512F (`__m512`), after the CPU check in `multiversion!`.
    impl F32Vec for __m256 {
        const LANES: usize = 8;
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn load_u8(p: *const u8) -> Self {
            unsafe { _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(p.cast()))) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            unsafe { _mm256_storeu_ps(p, self) }
        }
        #[inline(always)]
        fn splat(v: f32) -> Self {
            unsafe { _mm256_set1_ps(v) }
        }
        #[inline(always)]
        fn add(self, b: Self) -> Self {
            unsafe { _mm256_add_ps(self, b) }
        }
        #[inline(always)]
        fn mul(self, b: Self) -> Self {
            unsafe { _mm256_mul_ps(self, b) }
        }
        #[inline(always)]
        fn mul_add(self, b: Self, c: Self) -> Self {
            unsafe { _mm256_fmadd_ps(self, b, c) }
        }
        #[inline(always)]
        fn neg_mul_add(self, b: Self, c: Self) -> Self {
            unsafe { _mm256_fnmadd_ps(self, b, c) }
        }
        #[inline(always)]
        fn max(self, b: Self) -> Self {
            unsafe { _mm256_max_ps(self, b) }
        }
        #[inline(always)]
        fn min(self, b: Self) -> Self {
            unsafe { _mm256_min_ps(self, b) }
        }
    }

    impl F32Vec for __m512 {
        const LANES: usize = 16;
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            unsafe { _mm512_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn load_u8(p: *const u8) -> Self {
            unsafe { _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(p.cast()))) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            unsafe { _mm512_storeu_ps(p, self) }
        }
        #[inline(always)]
        fn splat(v: f32) -> Self {
            unsafe { _mm512_set1_ps(v) }
        }
        #[inline(always)]
        fn add(self, b: Self) -> Self {
            unsafe { _mm512_add_ps(self, b) }
        }
        #[inline(always)]
        fn mul(self, b: Self) -> Self {
            unsafe { _mm512_mul_ps(self, b) }
        }
        #[inline(always)]
        fn mul_add(self, b: Self, c: Self) -> Self {
            unsafe { _mm512_fmadd_ps(self, b, c) }
        }
        #[inline(always)]
        fn neg_mul_add(self, b: Self, c: Self) -> Self {
            unsafe { _mm512_fnmadd_ps(self, b, c) }
        }
        #[inline(always)]
        fn max(self, b: Self) -> Self {
            unsafe { _mm512_max_ps(self, b) }
        }
        #[inline(always)]
        fn min(self, b: Self) -> Self {
            unsafe { _mm512_min_ps(self, b) }
        }
    }

    // SAFETY (all methods): only called from code compiled with AVX2
    // (`__m256i`) or AVX-512BW (`__m512i`), after the CPU checks.
    impl U16Vec for __m256i {
        const LANES: usize = 16;
        #[inline(always)]
        unsafe fn load(p: *const u16) -> Self {
            unsafe { _mm256_loadu_si256(p.cast()) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut u16) {
            unsafe { _mm256_storeu_si256(p.cast(), self) }
        }
        #[inline(always)]
        unsafe fn store_u8_saturated(self, p: *mut u8) {
            unsafe {
                let packed = _mm256_permute4x64_epi64::<0b1000>(_mm256_packus_epi16(self, self));
                _mm_storeu_si128(p.cast(), _mm256_castsi256_si128(packed))
            }
        }
        #[inline(always)]
        fn splat(v: u16) -> Self {
            unsafe { _mm256_set1_epi16(v as i16) }
        }
        #[inline(always)]
        fn add(self, b: Self) -> Self {
            unsafe { _mm256_add_epi16(self, b) }
        }
        #[inline(always)]
        fn mulhi(self, b: Self) -> Self {
            unsafe { _mm256_mulhi_epu16(self, b) }
        }
        #[inline(always)]
        fn avg(self, b: Self) -> Self {
            unsafe { _mm256_avg_epu16(self, b) }
        }
        #[inline(always)]
        fn shl<const N: u32>(self) -> Self {
            // (AVX2's immediate form takes an `i32` constant; the count form compiles the same.)
            unsafe { _mm256_sll_epi16(self, _mm_cvtsi32_si128(N as i32)) }
        }
        #[inline(always)]
        fn shr<const N: u32>(self) -> Self {
            unsafe { _mm256_srl_epi16(self, _mm_cvtsi32_si128(N as i32)) }
        }
    }

    impl U16Vec for __m512i {
        const LANES: usize = 32;
        #[inline(always)]
        unsafe fn load(p: *const u16) -> Self {
            unsafe { _mm512_loadu_si512(p.cast()) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut u16) {
            unsafe { _mm512_storeu_si512(p.cast(), self) }
        }
        #[inline(always)]
        unsafe fn store_u8_saturated(self, p: *mut u8) {
            unsafe { _mm256_storeu_si256(p.cast(), _mm512_cvtusepi16_epi8(self)) }
        }
        #[inline(always)]
        fn splat(v: u16) -> Self {
            unsafe { _mm512_set1_epi16(v as i16) }
        }
        #[inline(always)]
        fn add(self, b: Self) -> Self {
            unsafe { _mm512_add_epi16(self, b) }
        }
        #[inline(always)]
        fn mulhi(self, b: Self) -> Self {
            unsafe { _mm512_mulhi_epu16(self, b) }
        }
        #[inline(always)]
        fn avg(self, b: Self) -> Self {
            unsafe { _mm512_avg_epu16(self, b) }
        }
        #[inline(always)]
        fn shl<const N: u32>(self) -> Self {
            unsafe { _mm512_slli_epi16::<N>(self) }
        }
        #[inline(always)]
        fn shr<const N: u32>(self) -> Self {
            unsafe { _mm512_srli_epi16::<N>(self) }
        }
    }
}
