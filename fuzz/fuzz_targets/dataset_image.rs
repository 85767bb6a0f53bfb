//! An image file from a dataset server or an images folder, decoded and resized to
//! CIFAR-10's 32 x 32.
#![no_main]

use brainlock_validator::images::Image;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Image::decode(data, 32, 32);
});
