//! Valgrind stack registration (feature `valgrind`).
//!
//! Valgrind's memcheck tracks the stack pointer; a switch to memory it does
//! not know as a stack looks like a huge stack change and floods the log.
//! With the feature on, every stack coframe allocates is announced with the
//! `VALGRIND_STACK_REGISTER` client request and withdrawn on deallocation.
//! Client requests are a magic instruction sequence that does nothing on
//! hardware, so the feature is harmless outside valgrind. Without the
//! feature both functions are empty and inlined away.

#[cfg(feature = "valgrind")]
mod imp {
    use parking_lot::Mutex;
    use std::collections::HashMap;

    const STACK_REGISTER: usize = 0x1501;
    const STACK_DEREGISTER: usize = 0x1502;

    static IDS: Mutex<Option<HashMap<usize, usize>>> = Mutex::new(None);

    fn request(args: &[usize; 6]) -> usize {
        let result: usize;
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the valgrind client-request preamble: rotations of rdi that
        // leave it unchanged, then `xchg rbx, rbx`; a no-op on hardware.
        unsafe {
            std::arch::asm!(
                "rol rdi, 3", "rol rdi, 13", "rol rdi, 61", "rol rdi, 51",
                "xchg rbx, rbx",
                inout("rdx") 0usize => result,
                in("rax") args.as_ptr(),
                options(nostack),
            );
        }
        #[cfg(target_arch = "aarch64")]
        // SAFETY: the valgrind client-request preamble: rotations of x12 that
        // leave it unchanged, then `orr x10, x10, x10`; a no-op on hardware.
        unsafe {
            std::arch::asm!(
                "ror x12, x12, #3", "ror x12, x12, #13", "ror x12, x12, #51", "ror x12, x12, #61",
                "orr x10, x10, x10",
                inout("x3") 0usize => result,
                in("x4") args.as_ptr(),
                out("x12") _,
                options(nostack),
            );
        }
        result
    }

    pub(crate) fn register(start: *mut u8, end: *mut u8) {
        let id = request(&[STACK_REGISTER, start as usize, end as usize, 0, 0, 0]);
        IDS.lock()
            .get_or_insert_with(HashMap::new)
            .insert(start as usize, id);
    }

    pub(crate) fn deregister(start: *mut u8) {
        if let Some(id) = IDS
            .lock()
            .as_mut()
            .and_then(|m| m.remove(&(start as usize)))
        {
            request(&[STACK_DEREGISTER, id, 0, 0, 0, 0]);
        }
    }
}

#[cfg(not(feature = "valgrind"))]
mod imp {
    #[inline(always)]
    pub(crate) fn register(_start: *mut u8, _end: *mut u8) {}
    #[inline(always)]
    pub(crate) fn deregister(_start: *mut u8) {}
}

pub(crate) use imp::{deregister, register};
