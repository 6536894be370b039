//! The stackful layer: every example of the Boost.Context manual, plus the
//! register, unwinding, panic, stack and overflow properties coframe adds.

use coframe::context::*;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

// ---------------------------------------------------------------------------
// The manual's examples.

#[test]
fn manual_fibonacci_generator() {
    let fib = Generator::new(|y| {
        let (mut a, mut b) = (0u64, 1u64);
        loop {
            y.suspend(a);
            (a, b) = (b, a + b);
        }
    });
    let v: Vec<u64> = fib.take(10).collect();
    assert_eq!(v, [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]);
}

#[test]
fn manual_parameter_passing_j_plus_one() {
    // execution_context<int>: ctx1(i) enters with j = 1, ctx2(j + 1) returns 2.
    let seen = Rc::new(Cell::new(0));
    let s = seen.clone();
    let mut ctx1 = Coroutine::<i32, i32, ()>::new(move |y, j| {
        s.set(j);
        y.suspend(j + 1);
    });
    let i = ctx1.resume(1).as_yield().unwrap();
    assert_eq!(seen.get(), 1);
    assert_eq!(i, 2);
}

#[test]
fn manual_parameter_passing_two_values() {
    // execution_context<int, int>: (2, 1) in, (i + j, i - j) = (3, 1) out.
    let mut ctx1 = Coroutine::<(i32, i32), (i32, i32), ()>::new(|y, (i, j)| {
        y.suspend((i + j, i - j));
    });
    assert_eq!(ctx1.resume((2, 1)), CoroutineResult::Yield((3, 1)));
}

#[test]
fn manual_integer_in_string_out() {
    let mut co = Coroutine::<i32, String, ()>::new(|y, mut n| loop {
        n = y.suspend(format!("<{n}>"));
    });
    assert_eq!(co.resume(7).as_yield().unwrap(), "<7>");
    assert_eq!(co.resume(-3).as_yield().unwrap(), "<-3>");
}

#[test]
fn manual_exec_ontop_value_sequence() {
    let log = Rc::new(RefCell::new(Vec::<String>::new()));
    let l = log.clone();
    let mut ctx = Coroutine::<i32, i32, ()>::new(move |y, mut data| {
        l.borrow_mut()
            .push(format!("f1: entered first time: {data}"));
        data = y.suspend(data + 1);
        l.borrow_mut()
            .push(format!("f1: entered second time: {data}"));
        data = y.suspend(data + 1);
        l.borrow_mut()
            .push(format!("f1: entered third time: {data}"));
    });
    let mut data = 0;
    data = ctx.resume(data + 1).as_yield().unwrap();
    log.borrow_mut()
        .push(format!("f1: returned first time: {data}"));
    data = ctx.resume(data + 1).as_yield().unwrap();
    log.borrow_mut()
        .push(format!("f1: returned second time: {data}"));
    let l = log.clone();
    let arg = data + 1;
    let r = ctx.resume_with(move || {
        l.borrow_mut().push(format!("f2: entered: {arg}"));
        -1
    });
    assert_eq!(r, CoroutineResult::Return(()));
    assert_eq!(
        *log.borrow(),
        [
            "f1: entered first time: 1",
            "f1: returned first time: 2",
            "f1: entered second time: 3",
            "f1: returned second time: 4",
            "f2: entered: 5",
            "f1: entered third time: -1",
        ]
    );
}

struct Interrupt;

#[test]
fn manual_interrupt_loop_with_panicking_ontop() {
    let log = Rc::new(RefCell::new(Vec::<&str>::new()));
    let l = log.clone();
    let mut co = Coroutine::<(), (), ()>::new(move |y, ()| {
        let r = panic::catch_unwind(AssertUnwindSafe(|| loop {
            l.borrow_mut().push("f1()");
            y.suspend(());
        }));
        match r {
            Err(p) if p.is::<Interrupt>() => l.borrow_mut().push("f1(): interrupted"),
            Err(p) => panic::resume_unwind(p),
            Ok(()) => unreachable!(),
        }
    });
    co.resume(());
    co.resume(());
    let r = co.resume_with(|| panic::panic_any(Interrupt));
    assert_eq!(r, CoroutineResult::Return(()));
    assert_eq!(*log.borrow(), ["f1()", "f1()", "f1(): interrupted"]);
}

/// The fiber version of the same example. Boost's `interrupt` exception
/// carries the context to continue with; a Rust panic payload must be
/// `Send` and a `Fiber` is not, so the ontop function parks the caller in a
/// slot the fiber can reach and panics with a marker.
#[test]
fn manual_interrupt_fiber_loop_with_panicking_ontop() {
    let log = Rc::new(RefCell::new(Vec::<&str>::new()));
    let parked: Rc<RefCell<Option<Fiber>>> = Rc::new(RefCell::new(None));
    let (l, p) = (log.clone(), parked.clone());
    let f = Fiber::new(move |caller| {
        let mut slot = Some(caller);
        let r = panic::catch_unwind(AssertUnwindSafe(|| loop {
            l.borrow_mut().push("f1()");
            slot = Some(slot.take().unwrap().resume());
        }));
        match r {
            Err(e) if e.is::<Interrupt>() => {
                l.borrow_mut().push("f1(): interrupted");
                p.borrow_mut().take().unwrap()
            }
            Err(e) => panic::resume_unwind(e),
            Ok(()) => unreachable!(),
        }
    });
    let f = f.resume();
    let f = f.resume();
    let p = parked.clone();
    let f = f.resume_with(move |caller| {
        *p.borrow_mut() = Some(caller);
        panic::panic_any(Interrupt)
    });
    assert!(f.is_terminated());
    assert_eq!(*log.borrow(), ["f1()", "f1()", "f1(): interrupted"]);
}

/// The manual's recursive-descent parser, inverted into a pull iterator:
/// the parser calls back for every character it accepts, the callback
/// suspends the coroutine.
struct Parser<'a, C: FnMut(char)> {
    input: &'a [u8],
    pos: usize,
    cb: C,
}

impl<C: FnMut(char)> Parser<'_, C> {
    // P ---> E '\0'
    fn run(&mut self) -> Result<(), String> {
        self.e()?;
        if self.pos != self.input.len() {
            return Err(format!("unexpected '{}'", self.input[self.pos] as char));
        }
        Ok(())
    }
    // E ---> T {('+'|'-') T}
    fn e(&mut self) -> Result<(), String> {
        self.t()?;
        while self.accept(b"+-") {
            self.t()?;
        }
        Ok(())
    }
    // T ---> S {('*'|'/') S}
    fn t(&mut self) -> Result<(), String> {
        self.s()?;
        while self.accept(b"*/") {
            self.s()?;
        }
        Ok(())
    }
    // S ---> digit | '(' E ')'
    fn s(&mut self) -> Result<(), String> {
        if self.accept(b"0123456789") {
            return Ok(());
        }
        if self.accept(b"(") {
            self.e()?;
            if self.accept(b")") {
                return Ok(());
            }
        }
        Err(format!("syntax error at {}", self.pos))
    }
    fn accept(&mut self, set: &[u8]) -> bool {
        match self.input.get(self.pos) {
            Some(c) if set.contains(c) => {
                self.pos += 1;
                (self.cb)(*c as char);
                true
            }
            _ => false,
        }
    }
}

fn parse_pull(text: &'static str) -> Generator<Result<char, String>> {
    Generator::new(move |y| {
        let mut p = Parser {
            input: text.as_bytes(),
            pos: 0,
            cb: |c| y.suspend(Ok(c)),
        };
        if let Err(e) = p.run() {
            y.suspend(Err(e));
        }
    })
}

#[test]
fn manual_parser_inverted_into_pull_iterator() {
    let parsed: Vec<char> = parse_pull("1+1").map(Result::unwrap).collect();
    assert_eq!(parsed, ['1', '+', '1']);
    let parsed: String = parse_pull("(1+2)*3").map(Result::unwrap).collect();
    assert_eq!(parsed, "(1+2)*3");
    let last = parse_pull("1+").last().unwrap();
    assert!(last.unwrap_err().contains("syntax error"));
}

// ---------------------------------------------------------------------------
// Fibers.

#[test]
fn fiber_ping_pong_and_termination() {
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    let mut f = Fiber::new(move |mut caller| {
        for _ in 0..1000 {
            c.set(c.get() + 1);
            caller = caller.resume();
        }
        caller
    });
    for i in 0..1000 {
        assert!(!f.is_terminated());
        f = f.resume();
        assert_eq!(count.get(), i + 1);
    }
    let f = f.resume();
    assert!(f.is_terminated());
}

#[test]
#[should_panic(expected = "resumed a terminated fiber")]
fn fiber_resuming_terminated_panics() {
    let f = Fiber::new(|c| c).resume();
    assert!(f.is_terminated());
    f.resume();
}

#[test]
fn fiber_panic_is_reraised_in_resumer() {
    let f = Fiber::new(|caller| {
        let caller = caller.resume();
        let _keep = caller;
        panic!("boom in fiber");
    });
    let f = f.resume();
    let err = panic::catch_unwind(AssertUnwindSafe(|| f.resume())).unwrap_err();
    assert_eq!(*err.downcast_ref::<&str>().unwrap(), "boom in fiber");
}

#[test]
fn fiber_drop_unwinds_suspended_and_never_started() {
    struct D(Rc<Cell<u32>>);
    impl Drop for D {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let drops = Rc::new(Cell::new(0));
    // Never started: the closure (and what it owns) is dropped, no switch.
    let d = D(drops.clone());
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let f = Fiber::new(move |c| {
        r.set(true);
        let _d = d;
        c
    });
    drop(f);
    assert_eq!(drops.get(), 1);
    assert!(!ran.get(), "a never-started fiber's closure ran");
    // Suspended with destructors pending on its stack.
    let d1 = D(drops.clone());
    let d2 = drops.clone();
    let f = Fiber::new(move |c| {
        let _a = d1;
        let _b = D(d2);
        let c = c.resume();
        unreachable_after_unwind(c)
    });
    let f = f.resume();
    assert!(!f.is_terminated());
    drop(f);
    assert_eq!(drops.get(), 3);
}

fn unreachable_after_unwind(c: Fiber) -> Fiber {
    panic!("a dropped fiber must not continue past its suspension: {c:?}")
}

#[test]
fn fiber_nested_fibers() {
    // A fiber that runs a fiber of its own.
    let out = Rc::new(RefCell::new(Vec::new()));
    let o = out.clone();
    let f = Fiber::new(move |caller| {
        let o2 = o.clone();
        let inner = Fiber::new(move |c| {
            o2.borrow_mut().push("inner");
            c
        });
        o.borrow_mut().push("outer before");
        let inner = inner.resume();
        assert!(inner.is_terminated());
        o.borrow_mut().push("outer after");
        caller
    });
    assert!(f.resume().is_terminated());
    assert_eq!(*out.borrow(), ["outer before", "inner", "outer after"]);
}

#[test]
fn fiber_lean_switch() {
    let f = Fiber::try_with(PooledStack::default(), Switch::Lean, |mut c| {
        for _ in 0..10 {
            c = c.resume();
        }
        c
    })
    .unwrap();
    let mut f = f;
    for _ in 0..10 {
        f = f.resume();
    }
    assert!(f.resume().is_terminated());
}

/// Boost's `test_ontop`, second block: the function given to `resume_with`
/// returns an empty (terminated) fiber, and the resumed fiber's pending
/// `resume` returns that empty fiber; on a fiber that has not started, its
/// function receives it.
#[test]
fn fiber_resume_with_may_return_a_terminated_fiber() {
    let keep: Rc<RefCell<Option<Fiber>>> = Rc::new(RefCell::new(None));
    let k = keep.clone();
    let f = Fiber::new(move |c| {
        let c = c.resume();
        assert!(
            c.is_terminated(),
            "the pending resume returns g's empty fiber"
        );
        k.borrow_mut().take().unwrap()
    })
    .resume();
    let empty = Fiber::new(|c| c).resume();
    assert!(empty.is_terminated());
    let k = keep.clone();
    let end = f.resume_with(move |main| {
        *k.borrow_mut() = Some(main);
        empty
    });
    assert!(end.is_terminated());
    assert!(keep.borrow().is_none());

    // Not started yet: the fiber's function receives the empty fiber.
    let k = keep.clone();
    let saw_empty = Rc::new(Cell::new(false));
    let s = saw_empty.clone();
    let f = Fiber::new(move |c| {
        s.set(c.is_terminated());
        k.borrow_mut().take().unwrap()
    });
    let empty = Fiber::new(|c| c).resume();
    let k = keep.clone();
    let end = f.resume_with(move |main| {
        *k.borrow_mut() = Some(main);
        empty
    });
    assert!(end.is_terminated());
    assert!(saw_empty.get());
}

/// The function given to `resume_with` runs on the resumed fiber and may
/// switch itself: resume the fiber it was handed, or drop (and so unwind)
/// another suspended fiber. Under AddressSanitizer (feature `asan`) every
/// such switch must begin after the one that brought us here has ended.
#[test]
fn fiber_resume_with_function_switches_and_unwinds() {
    let f = Fiber::new(|c| {
        let c = c.resume_with(|fib| fib.resume());
        c.resume()
    })
    .resume();
    assert!(f.resume().is_terminated());

    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let victim = Fiber::new(move |c| {
        let _d = Counted(d);
        let c = c.resume();
        unreachable_after_unwind(c)
    })
    .resume();
    let f = Fiber::new(|c| c.resume()).resume();
    let d = drops.clone();
    let end = f.resume_with(move |main| {
        drop(victim);
        assert_eq!(d.get(), 1, "the victim was unwound inside the function");
        main
    });
    assert!(end.is_terminated());
    assert_eq!(drops.get(), 1);
}

// ---------------------------------------------------------------------------
// Coroutines: panics, unwinding, nesting, many alive.

struct Counted(Rc<Cell<u32>>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn forced_unwind_runs_every_destructor() {
    let drops = Rc::new(Cell::new(0));
    // never started
    let d = Counted(drops.clone());
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let co = Coroutine::<(), (), ()>::new(move |_, ()| {
        r.set(true);
        drop(d)
    });
    assert!(!co.is_started());
    drop(co);
    assert_eq!(drops.get(), 1);
    assert!(!ran.get(), "a never-started coroutine's closure ran");
    // suspended, with destructors at several depths
    let d = drops.clone();
    let mut co = Coroutine::<(), u32, ()>::new(move |y, ()| {
        let _a = Counted(d.clone());
        fn deeper(y: &Yielder<(), u32>, d: Rc<Cell<u32>>, n: u32) {
            let _b = Counted(d.clone());
            if n == 0 {
                loop {
                    y.suspend(n);
                }
            }
            deeper(y, d, n - 1);
        }
        deeper(y, d.clone(), 5);
    });
    assert_eq!(co.resume(()), CoroutineResult::Yield(0));
    drop(co);
    assert_eq!(drops.get(), 1 + 1 + 6);
    // finished
    let d = Counted(drops.clone());
    let mut co = Coroutine::<(), (), u8>::new(move |_, ()| {
        let _d = d;
        9
    });
    assert_eq!(co.resume(()), CoroutineResult::Return(9));
    assert!(co.is_done());
    drop(co);
    assert_eq!(drops.get(), 9);
}

#[test]
fn unwind_that_is_caught_and_resuspended_is_unwound_again() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let mut co = Coroutine::<(), u32, ()>::new(move |y, ()| {
        let _outer = Counted(d.clone());
        // Swallows the first unwind (bad manners), then suspends again.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            let _inner = Counted(d.clone());
            y.suspend(1);
        }));
        y.suspend(2);
    });
    assert_eq!(co.resume(()), CoroutineResult::Yield(1));
    drop(co);
    assert_eq!(drops.get(), 2);
}

#[test]
fn panics_propagate_with_payload() {
    let mut co = Coroutine::<(), (), ()>::new(|y, ()| {
        y.suspend(());
        panic::panic_any(42u64);
    });
    co.resume(());
    let err = panic::catch_unwind(AssertUnwindSafe(|| co.resume(()))).unwrap_err();
    assert_eq!(*err.downcast_ref::<u64>().unwrap(), 42);
    assert!(co.is_done());
    let again = panic::catch_unwind(AssertUnwindSafe(|| co.resume(()))).unwrap_err();
    assert!(again
        .downcast_ref::<&str>()
        .unwrap()
        .contains("already finished"));
}

#[test]
fn nested_coroutines() {
    let mut outer = Coroutine::<(), i32, i32>::new(|y, ()| {
        let mut inner = Coroutine::<(), i32, i32>::new(|y2, ()| {
            for i in 0..3 {
                y2.suspend(i);
            }
            100
        });
        let mut total = 0;
        loop {
            match inner.resume(()) {
                CoroutineResult::Yield(v) => {
                    total += v;
                    y.suspend(v * 10);
                }
                CoroutineResult::Return(r) => return total + r,
            }
        }
    });
    let mut got = vec![];
    loop {
        match outer.resume(()) {
            CoroutineResult::Yield(v) => got.push(v),
            CoroutineResult::Return(r) => {
                assert_eq!(r, 103);
                break;
            }
        }
    }
    assert_eq!(got, [0, 10, 20]);
}

#[test]
fn ten_thousand_coroutines_alive_at_once() {
    let stacks = ProtectedStack::new(32 * 1024).unwrap();
    let mut all: Vec<Coroutine<u64, u64, u64>> = (0..10_000u64)
        .map(|i| {
            Coroutine::with_stack(stacks, move |y, x| {
                let a = y.suspend(x + i);
                a * 2 + i
            })
        })
        .collect();
    for (i, co) in all.iter_mut().enumerate() {
        assert_eq!(co.resume(1), CoroutineResult::Yield(1 + i as u64));
    }
    for (i, co) in all.iter_mut().enumerate() {
        assert_eq!(co.resume(3), CoroutineResult::Return(6 + i as u64));
    }
}

/// The machine stack pointer (locals' addresses lie under AddressSanitizer,
/// which moves them to a fake stack).
#[inline(always)]
fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads the stack pointer register.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack))
    };
    // SAFETY: reads the stack pointer register.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack))
    };
    sp
}

#[test]
fn deep_recursion_close_to_the_stack_size() {
    const SIZE: usize = 256 * 1024;
    let mut co =
        Coroutine::<(), (), usize>::with_stack(ProtectedStack::new(SIZE).unwrap(), |_, ()| {
            let start = stack_pointer();
            #[inline(never)]
            fn recurse(start: usize, budget: usize) -> usize {
                let pad = std::hint::black_box([0u8; 512]);
                if start - stack_pointer() > budget {
                    return pad[7] as usize + 1;
                }
                1 + std::hint::black_box(recurse(start, budget))
            }
            recurse(start, SIZE - 16 * 1024)
        });
    let depth = co.resume(()).as_return().unwrap();
    // It only returns once the frames span all but 16 KiB of the stack.
    assert!(depth > 100, "recursed {depth} levels");
}

#[test]
fn values_survive_many_switches() {
    // Integer and floating-point values live across thousands of switches in
    // both contexts.
    let mut co = Coroutine::<f64, f64, ()>::new(|y, mut x| {
        let mut acc_i = 0u64;
        let mut acc_f = 0.0f64;
        for i in 0..10_000u64 {
            acc_i = acc_i.wrapping_mul(31).wrapping_add(i);
            acc_f += x * 0.5;
            x = y.suspend(acc_f + (acc_i % 7) as f64);
        }
    });
    let mut acc_i = 0u64;
    let mut acc_f = 0.0f64;
    let mut x = 1.0;
    for i in 0..10_000u64 {
        let v = co.resume(x).as_yield().unwrap();
        acc_i = acc_i.wrapping_mul(31).wrapping_add(i);
        acc_f += x * 0.5;
        assert_eq!(v, acc_f + (acc_i % 7) as f64);
        x = (i % 13) as f64 + 0.25;
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use std::arch::asm;

    /// Runs `resume` from inside an asm block that holds known values in
    /// r12–r15 across the call: if the switch lost any, the block's outputs
    /// differ.
    #[test]
    fn callee_saved_gprs_survive_switches() {
        thread_local! {
            static CO: RefCell<Option<Coroutine<(), (), ()>>> = const { RefCell::new(None) };
        }
        extern "C" fn resume_it() {
            CO.with(|c| {
                c.borrow_mut().as_mut().unwrap().resume(());
            });
        }
        CO.with(|c| {
            *c.borrow_mut() = Some(Coroutine::new(|y, ()| loop {
                // Scribble over callee-saved registers inside the coroutine.
                // SAFETY: the asm block declares every register it writes.
                unsafe {
                    asm!("mov r12, -1", "mov r13, -2", "mov r14, -3", "mov r15, -4",
                         out("r12") _, out("r13") _, out("r14") _, out("r15") _);
                }
                y.suspend(());
            }))
        });
        for round in 0..1000u64 {
            let (mut a, mut b, mut c, mut d) = (round, round ^ 0xdead, round + 7, !round);
            let expect = (a, b, c, d);
            // SAFETY: calls a C-ABI function; r12–r15 are callee-saved, so
            // they must come back unchanged; every other register is clobbered.
            unsafe {
                asm!("call {f}",
                     f = sym resume_it,
                     inout("r12") a, inout("r13") b, inout("r14") c, inout("r15") d,
                     clobber_abi("C"));
            }
            assert_eq!((a, b, c, d), expect, "round {round}");
        }
        CO.with(|c| c.borrow_mut().take());
    }
}

#[cfg(target_arch = "aarch64")]
mod aarch64 {
    use super::*;
    use std::arch::asm;

    /// Runs `resume` from inside an asm block that holds known values in
    /// X20–X28 and D8–D15 (AAPCS64 callee-saved; the compact switch itself
    /// clobbers them, so its call sites must save them) across the call: if
    /// the switch lost any, the block's outputs differ. X19 and X29 cannot be
    /// asm operands; `values_survive_many_switches` covers them.
    #[test]
    fn callee_saved_registers_survive_switches() {
        thread_local! {
            static CO: RefCell<Option<Coroutine<(), (), ()>>> = const { RefCell::new(None) };
        }
        extern "C" fn resume_it() {
            CO.with(|c| {
                c.borrow_mut().as_mut().unwrap().resume(());
            });
        }
        CO.with(|c| {
            *c.borrow_mut() = Some(Coroutine::new(|y, ()| loop {
                // Scribble over callee-saved registers inside the coroutine.
                // SAFETY: the asm block declares every register it writes.
                unsafe {
                    asm!("mov x20, #-1", "mov x21, #-2", "mov x22, #-3", "mov x23, #-4",
                         "mov x24, #-5", "mov x25, #-6", "mov x26, #-7", "mov x27, #-8",
                         "mov x28, #-9",
                         "fmov d8, #-1.0", "fmov d9, #-2.0", "fmov d10, #-3.0",
                         "fmov d11, #-4.0", "fmov d12, #-5.0", "fmov d13, #-6.0",
                         "fmov d14, #-7.0", "fmov d15, #-8.0",
                         out("x20") _, out("x21") _, out("x22") _, out("x23") _,
                         out("x24") _, out("x25") _, out("x26") _, out("x27") _,
                         out("x28") _,
                         out("v8") _, out("v9") _, out("v10") _, out("v11") _,
                         out("v12") _, out("v13") _, out("v14") _, out("v15") _);
                }
                y.suspend(());
            }))
        });
        for round in 0..1000u64 {
            let mut x: [u64; 9] =
                std::array::from_fn(|i| round.wrapping_mul(0x9e37) ^ (i as u64 + 1));
            let mut d: [f64; 8] = std::array::from_fn(|i| round as f64 + 0.5 + i as f64);
            let (expect_x, expect_d) = (x, d);
            // SAFETY: calls a C-ABI function; X20–X28 and the low halves of
            // V8–V15 are callee-saved, so they must come back unchanged;
            // every other register is clobbered.
            unsafe {
                asm!("bl {f}",
                     f = sym resume_it,
                     inout("x20") x[0], inout("x21") x[1], inout("x22") x[2],
                     inout("x23") x[3], inout("x24") x[4], inout("x25") x[5],
                     inout("x26") x[6], inout("x27") x[7], inout("x28") x[8],
                     inout("d8") d[0], inout("d9") d[1], inout("d10") d[2],
                     inout("d11") d[3], inout("d12") d[4], inout("d13") d[5],
                     inout("d14") d[6], inout("d15") d[7],
                     clobber_abi("C"));
            }
            assert_eq!(x, expect_x, "round {round}");
            assert_eq!(d, expect_d, "round {round}");
        }
        CO.with(|c| c.borrow_mut().take());
    }
}

/// Runs a coroutine (with `switch`) that sets "round up" and suspends;
/// returns the rounding mode the parent then runs with, and the one the
/// coroutine finds when resumed after the parent reset its own.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn rounding_mode_isolation(switch: Switch) -> (u64, u64) {
    use crate::fp_mode::{get, set, ROUND_MASK, ROUND_UP};
    let base = get();
    let mut co =
        Coroutine::<(), u64, ()>::try_with(ProtectedStack::default(), switch, move |y, ()| {
            set((get() & !ROUND_MASK) | ROUND_UP);
            y.suspend(0);
            let seen = get();
            set(base);
            y.suspend(seen);
        })
        .unwrap();
    co.resume(());
    let parent_sees = get();
    set(base);
    let child_sees = co.resume(()).as_yield().unwrap();
    (parent_sees & ROUND_MASK, child_sees & ROUND_MASK)
}

/// MXCSR (x86_64) or FPCR (aarch64): the default switch keeps a rounding
/// mode with the context that set it.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn rounding_mode_does_not_leak_between_contexts() {
    use crate::fp_mode::{get, ROUND_MASK, ROUND_UP};
    let base = get() & ROUND_MASK;
    let (parent, child) = rounding_mode_isolation(Switch::Full);
    assert_eq!(
        parent, base,
        "the coroutine's rounding mode leaked into the parent"
    );
    assert_eq!(child, ROUND_UP, "the coroutine lost its rounding mode");
}

/// Documented (`Switch::Full`): a fresh context starts in the rounding mode
/// of whoever first resumes it, not of its creator; a fiber likewise.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn a_fresh_context_starts_in_its_first_resumers_rounding_mode() {
    use crate::fp_mode::{get, set, ROUND_MASK, ROUND_UP};
    thread_local! {
        static FIBER_SAW: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    let base = get();
    assert_ne!(base & ROUND_MASK, ROUND_UP);
    let mut co =
        Coroutine::<(), (), u64>::try_with(ProtectedStack::default(), Switch::Full, |_, ()| get())
            .unwrap();
    let fiber = Fiber::new(|c| {
        FIBER_SAW.with(|s| s.set(get()));
        c
    });
    set((base & !ROUND_MASK) | ROUND_UP);
    let co_saw = co.resume(()).as_return();
    fiber.resume();
    let after = get();
    set(base);
    assert_eq!(co_saw.map(|v| v & ROUND_MASK), Some(ROUND_UP), "coroutine");
    assert_eq!(FIBER_SAW.with(|s| s.get()) & ROUND_MASK, ROUND_UP, "fiber");
    assert_eq!(
        after & ROUND_MASK,
        ROUND_UP,
        "the resumer keeps its own mode"
    );
}

/// Documented: lean switches leave the FP control state alone, so the mode
/// set inside is what the parent runs with.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn lean_switch_does_not_preserve_the_rounding_mode() {
    let (parent, _) = rounding_mode_isolation(Switch::Lean);
    assert_eq!(parent, crate::fp_mode::ROUND_UP);
}

#[test]
fn aligned_simd_local_and_snprintf_on_a_fiber_stack() {
    #[repr(align(16))]
    struct A16([f32; 4]);
    let f = Fiber::new(|c| {
        let v = std::hint::black_box(A16([1.5, 2.5, 3.5, 4.5]));
        assert_eq!(&v as *const A16 as usize % 16, 0);
        let mut buf = [0u8; 64];
        // SAFETY: snprintf into a local buffer with a matching format.
        let n = unsafe {
            libc::snprintf(
                buf.as_mut_ptr().cast(),
                buf.len(),
                c"%f %.2f".as_ptr(),
                3.25f64,
                v.0[3] as f64,
            )
        };
        assert_eq!(&buf[..n as usize], b"3.250000 4.50");
        c
    });
    assert!(f.resume().is_terminated());
}

/// A frame that inlining cannot remove, so the test holds in release
/// builds. The walk happens here; the symbols are resolved when the
/// backtrace is formatted, on the resumer's stack (resolving them on a
/// coroutine's small stack overflowed it under ThreadSanitizer).
#[inline(never)]
fn backtrace_from_here() -> std::backtrace::Backtrace {
    std::hint::black_box(std::backtrace::Backtrace::force_capture())
}

/// `text`, a formatted backtrace from `backtrace_from_here` on a
/// coroutine's stack, names that frame, then the stack's base, then
/// `resumer`: the walk went on into the resumer's stack.
fn assert_frames_in_order(text: &str, resumer: &str) {
    let at = |f: &str| text.find(f).unwrap_or_else(|| panic!("no {f} in {text}"));
    let order = [
        at("backtrace_from_here"),
        at("coframe_compact_start"),
        at(resumer),
    ];
    assert!(order[0] < order[1] && order[1] < order[2], "{text}");
}

/// A resumer frame that inlining cannot remove: it resumes `co` and
/// returns what it yielded.
#[inline(never)]
fn resumer_of_the_coroutine(co: &mut Coroutine<(), std::backtrace::Backtrace, ()>) -> String {
    std::hint::black_box(co.resume(()).as_yield().unwrap().to_string())
}

/// A backtrace inside a coroutine walks through the base of its stack into
/// the frames of the code that resumed it, on every resume (the resumer's
/// block changes each time), and the walk still ends cleanly.
#[test]
fn backtrace_inside_a_coroutine_continues_into_its_resumer() {
    let mut co = Coroutine::<(), std::backtrace::Backtrace, ()>::new(|y, ()| {
        y.suspend(backtrace_from_here());
        y.suspend(backtrace_from_here());
    });
    for _ in 0..2 {
        let text = resumer_of_the_coroutine(&mut co);
        // Our frame, the stack's base, then the resumer.
        assert_frames_in_order(&text, "resumer_of_the_coroutine");
    }
    assert!(co.resume(()).as_return().is_some());
}

/// A backtrace inside a stackful task (what a panic there prints) reaches
/// the executor's frames that polled the task.
#[test]
fn a_backtrace_in_a_stackful_task_reaches_the_executor() {
    let ex = coframe::LocalExecutor::new();
    let h = ex.spawn_stackful(|| {
        coframe::stackful::wait(async {});
        backtrace_from_here()
    });
    let text = driver_of_the_executor(&ex, h);
    assert_frames_in_order(&text, "driver_of_the_executor");
}

/// Runs `ex` until `h` is done, in a frame that inlining cannot remove.
#[inline(never)]
fn driver_of_the_executor(
    ex: &coframe::LocalExecutor,
    h: coframe::JoinHandle<std::backtrace::Backtrace>,
) -> String {
    std::hint::black_box(ex.run_until(h).unwrap().to_string())
}

// ---------------------------------------------------------------------------
// Stacks.

#[test]
fn stack_sizes_are_validated() {
    let min = StackTraits::minimum_size();
    assert!(matches!(
        ProtectedStack::new(min - 1),
        Err(StackError::TooSmall { .. })
    ));
    assert!(matches!(
        FixedSizeStack::new(0),
        Err(StackError::TooSmall { .. })
    ));
    assert!(ProtectedStack::new(min).is_ok());
    // Above the maximum, bounded or not: an error for every allocator.
    let max = StackTraits::maximum_size();
    assert!(max < isize::MAX as usize, "an allocation must describe it");
    for size in [max + 1, usize::MAX] {
        assert!(matches!(
            ProtectedStack::new(size),
            Err(StackError::TooLarge { .. })
        ));
        assert!(matches!(
            FixedSizeStack::new(size),
            Err(StackError::TooLarge { .. })
        ));
        assert!(matches!(
            PooledStack::new(size),
            Err(StackError::TooLarge { .. })
        ));
    }
    // The maximum itself is accepted; memory the OS refuses is an error
    // from `allocate`, not a panic (no machine here has 2^62 bytes free).
    // (The allocators of AddressSanitizer and ThreadSanitizer abort on such
    // a request by design, so the heap allocator is left out under them.)
    if StackTraits::is_unbounded() {
        let e = ProtectedStack::new(max).unwrap().allocate().err();
        assert!(matches!(e, Some(StackError::Os(_))), "{e:?}");
        if !cfg!(any(feature = "asan", feature = "tsan")) {
            let e = FixedSizeStack::new(max).unwrap().allocate().err();
            assert!(matches!(e, Some(StackError::Os(_))), "{e:?}");
        }
    }
    assert!(matches!(
        PooledStack::builder().max_count(0).build(),
        Err(StackError::Invalid(_))
    ));
}

#[test]
fn pooled_stack_reuses_and_caps() {
    let pool = PooledStack::builder()
        .stack_size(32 * 1024)
        .initial(1)
        .max_count(2)
        .build()
        .unwrap();
    assert_eq!(pool.mapped(), 1);
    let a = Coroutine::<(), (), ()>::with_stack(pool.clone(), |y, ()| y.suspend(()));
    let b = Coroutine::<(), (), ()>::with_stack(pool.clone(), |y, ()| y.suspend(()));
    assert_eq!(pool.live(), 2);
    let err = Coroutine::<(), (), ()>::try_with(pool.clone(), Switch::Full, |_, ()| ()).err();
    assert!(matches!(
        err,
        Some(StackError::PoolExhausted { max_count: 2 })
    ));
    drop(a);
    drop(b);
    assert_eq!(pool.live(), 0);
    assert_eq!(pool.cached(), 2);
    // Pooled stacks are shared across threads.
    let p2 = pool.clone();
    std::thread::spawn(move || {
        let mut co = Coroutine::<(), (), u8>::with_stack(p2, |_, ()| 5);
        assert_eq!(co.resume(()), CoroutineResult::Return(5));
    })
    .join()
    .unwrap();
    assert_eq!(pool.mapped(), 2);
    pool.trim();
    assert_eq!(pool.mapped(), 0);
}

#[test]
fn closure_too_large_for_the_stack_is_an_error() {
    let big = [0u8; 64 * 1024];
    let err = Coroutine::<(), (), ()>::try_with(
        FixedSizeStack::new(16 * 1024).unwrap(),
        Switch::Full,
        move |_, ()| {
            std::hint::black_box(&big);
        },
    )
    .err();
    assert!(matches!(err, Some(StackError::Invalid(_))));
}

/// Recurses until the stack it runs on overflows (512 bytes a frame).
#[inline(never)]
#[allow(unconditional_recursion)]
fn down(n: u64) -> u64 {
    let pad = std::hint::black_box([n; 64]);
    down(n + 1) + pad[3]
}

/// Runs `scenario` in a child process (this test binary, filtered to one
/// test) and returns its stderr and whether it succeeded.
fn in_child(test: &str, scenario: &str) -> (String, bool) {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("COFRAME_CHILD_SCENARIO", scenario)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

#[test]
fn stack_overflow_ends_the_process_with_a_message() {
    if let Ok(s) = std::env::var("COFRAME_CHILD_SCENARIO") {
        match s.as_str() {
            "coroutine" => {
                let mut co = Coroutine::<(), (), u64>::with_stack(
                    ProtectedStack::new(64 * 1024).unwrap(),
                    |_, ()| down(0),
                );
                co.resume(());
            }
            "fiber" => {
                let f = Fiber::with_stack(PooledStack::new(64 * 1024).unwrap(), |c| {
                    std::hint::black_box(down(0));
                    c
                });
                f.resume();
            }
            _ => {}
        }
        return;
    }
    for scenario in ["coroutine", "fiber"] {
        let (stderr, ok) = in_child(
            "context::stack_overflow_ends_the_process_with_a_message",
            scenario,
        );
        assert!(!ok, "{scenario}: the child survived an overflow");
        assert!(
            stderr.contains("coframe: stack overflow in a coframe stack"),
            "{scenario}: stderr was {stderr}"
        );
    }
}

/// Faults that are not in a coframe guard page reach the handler installed
/// before coframe's: here Rust's own, which reports the overflow of a
/// thread's native stack, with coframe's handler installed first.
#[test]
fn faults_outside_coframe_stacks_go_to_the_previous_handler() {
    const TEST: &str = "context::faults_outside_coframe_stacks_go_to_the_previous_handler";
    if std::env::var("COFRAME_CHILD_SCENARIO").as_deref() == Ok("native-overflow") {
        // Map a coframe stack (kept to the end): the handler is installed.
        let alloc = ProtectedStack::new(64 * 1024).unwrap();
        let _stack = alloc.allocate().unwrap();
        // On this test thread's own stack, not a coframe one.
        std::hint::black_box(down(0));
        return;
    }
    let (stderr, ok) = in_child(TEST, "native-overflow");
    assert!(!ok, "the child survived an overflow");
    // (Under AddressSanitizer or ThreadSanitizer, whose handler std leaves
    // in place, the previous handler is the sanitizer's.)
    assert!(
        stderr.contains("has overflowed its stack")
            || stderr.contains("AddressSanitizer")
            || stderr.contains("ThreadSanitizer: stack-overflow"),
        "the previous handler did not run: {stderr}"
    );
    assert!(
        !stderr.contains("coframe: stack overflow"),
        "coframe claimed a fault outside its stacks: {stderr}"
    );
}

/// A thread that `std` did not spawn has no alternate signal stack; the
/// first protected stack made on it gives it one, so an overflow there is
/// still reported (the handler cannot run on the stack that overflowed).
#[test]
fn a_foreign_thread_gets_an_alternate_signal_stack() {
    const TEST: &str = "context::a_foreign_thread_gets_an_alternate_signal_stack";
    if std::env::var("COFRAME_CHILD_SCENARIO").as_deref() == Ok("pthread") {
        extern "C" fn body(_: *mut libc::c_void) -> *mut libc::c_void {
            // A plain pthread has no alternate stack, unless a sanitizer's
            // interceptor gave it one: take that away.
            // SAFETY: disabling and querying this thread's alternate stack.
            let had = unsafe {
                let mut off: libc::stack_t = std::mem::zeroed();
                off.ss_flags = libc::SS_DISABLE;
                libc::sigaltstack(&off, std::ptr::null_mut());
                let mut cur: libc::stack_t = std::mem::zeroed();
                libc::sigaltstack(std::ptr::null(), &mut cur);
                cur.ss_flags & libc::SS_DISABLE == 0
            };
            eprintln!("altstack before: {had}");
            let mut co = Coroutine::<(), (), u64>::with_stack(
                ProtectedStack::new(64 * 1024).unwrap(),
                |_, ()| down(0),
            );
            co.resume(());
            std::ptr::null_mut()
        }
        // SAFETY: a plain pthread with default attributes, joined below.
        unsafe {
            let mut t: libc::pthread_t = std::mem::zeroed();
            assert_eq!(
                libc::pthread_create(&mut t, std::ptr::null(), body, std::ptr::null_mut()),
                0
            );
            libc::pthread_join(t, std::ptr::null_mut());
        }
        return;
    }
    let (stderr, ok) = in_child(TEST, "pthread");
    assert!(!ok, "the child survived an overflow");
    assert!(
        stderr.contains("altstack before: false"),
        "the scenario needs a thread without one: {stderr}"
    );
    assert!(
        stderr.contains("coframe: stack overflow in a coframe stack"),
        "stderr was {stderr}"
    );
}

/// A bounded hard `RLIMIT_STACK` is the maximum stack size.
#[test]
fn a_bounded_stack_rlimit_is_the_maximum_size() {
    const TEST: &str = "context::a_bounded_stack_rlimit_is_the_maximum_size";
    if std::env::var("COFRAME_CHILD_SCENARIO").as_deref() == Ok("rlimit") {
        // Lowering the hard limit needs no privilege (and lasts only for
        // this child).
        // SAFETY: valid in/out pointers to an rlimit.
        unsafe {
            let mut lim: libc::rlimit = std::mem::zeroed();
            assert_eq!(libc::getrlimit(libc::RLIMIT_STACK, &mut lim), 0);
            lim.rlim_max = lim.rlim_max.min(16 << 20);
            lim.rlim_cur = lim.rlim_cur.min(lim.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_STACK, &lim), 0);
        }
        assert!(!StackTraits::is_unbounded());
        let max = StackTraits::maximum_size();
        assert!(max <= 16 << 20, "{max}");
        assert!(ProtectedStack::new(max).is_ok());
        match FixedSizeStack::new(max + 1) {
            Err(StackError::TooLarge { requested, maximum }) => {
                assert_eq!((requested, maximum), (max + 1, max))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            ProtectedStack::new(32 << 20),
            Err(StackError::TooLarge { .. })
        ));
        return;
    }
    let (stderr, ok) = in_child(TEST, "rlimit");
    assert!(ok, "{stderr}");
}

#[test]
fn many_protected_stacks_fit_under_the_map_count() {
    // 40,000 protected stacks: with one VMA per stack plus one per guard
    // page this would exceed the default vm.max_map_count (65,530). That
    // takes guard regions (MADV_GUARD_INSTALL, Linux 6.13); on an older
    // kernel the guard splits each mapping, and running out of mappings
    // must be a clean error that loses nothing.
    let alloc = ProtectedStack::new(16 * 1024).unwrap();
    let mut stacks = Vec::with_capacity(40_000);
    for i in 0..40_000 {
        match alloc.allocate() {
            Ok(s) => stacks.push(s),
            Err(e) if !guard_regions_supported() => {
                assert!(matches!(e, StackError::Os(_)), "{e:?}");
                assert!(i > 20_000, "only {i} stacks before running out");
                break;
            }
            Err(e) => panic!("stack {i}: {e}"),
        }
    }
    for s in stacks {
        // SAFETY: each stack came from `alloc` and is unused.
        unsafe { alloc.deallocate(s) };
    }
}

/// Whether this kernel has guard regions (`MADV_GUARD_INSTALL`).
fn guard_regions_supported() -> bool {
    const MADV_GUARD_INSTALL: libc::c_int = 102;
    let page = StackTraits::page_size();
    // SAFETY: a private anonymous page, advised and unmapped here.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            page,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        let ok = libc::madvise(p, page, MADV_GUARD_INSTALL) == 0;
        libc::munmap(p, page);
        ok
    }
}

#[test]
fn the_control_block_lives_on_the_stack_no_heap_allocation() {
    // Coroutines and fibers keep their control block (and closure) at the
    // top of their own stack: creating, running and dropping one allocates
    // nothing on the heap beyond the stack allocator's own memory (here an
    // mmap).
    let stacks = ProtectedStack::new(64 * 1024).unwrap();
    let pool = LocalPool::new(stacks, 1);
    // Warm the pool (its Vec) first.
    drop(Coroutine::<(), (), ()>::with_stack(
        pool.clone(),
        |_, ()| (),
    ));
    let n = crate::heap_count::heap_allocations_in(|| {
        let mut co = Coroutine::<u32, u32, u32>::with_stack(pool.clone(), |y, x| {
            let x = y.suspend(x + 1);
            x * 2
        });
        assert_eq!(co.resume(1), CoroutineResult::Yield(2));
        assert_eq!(co.resume(5), CoroutineResult::Return(10));
        let f = Fiber::with_stack(pool.clone(), |c| c.resume());
        let f = f.resume();
        assert!(f.resume().is_terminated());
        // A suspended one, dropped: the forced unwind allocates its private
        // payload box, so leave that out of this count.
    });
    assert_eq!(n, 0, "heap allocations while creating and running");
}

/// A `LocalPool` keeps at most `capacity` stacks (the one-stack slot in
/// front of its `Vec` included), hands back the stack returned last first,
/// gives the rest to its inner allocator, and everything when dropped.
#[test]
fn local_pool_keeps_its_capacity_and_hands_out_the_last_stack_first() {
    let inner = PooledStack::new(64 * 1024).unwrap();
    let pool = LocalPool::new(inner.clone(), 3);
    let stacks: Vec<Stack> = (0..5).map(|_| pool.allocate().unwrap()).collect();
    assert_eq!(inner.live(), 5);
    let tops: Vec<usize> = stacks.iter().map(|s| s.top().as_ptr() as usize).collect();
    for s in stacks {
        // SAFETY: each stack came from `pool` and is unused.
        unsafe { pool.deallocate(s) };
    }
    assert_eq!(pool.cached(), 3, "capacity 3, slot included");
    assert_eq!(
        inner.live(),
        3,
        "two stacks went back to the inner allocator"
    );
    // The last one returned comes back first, then the others.
    let again = pool.allocate().unwrap();
    assert_eq!(again.top().as_ptr() as usize, tops[4]);
    assert_eq!(pool.cached(), 2);
    // SAFETY: from `pool`, unused.
    unsafe { pool.deallocate(again) };
    drop(pool);
    assert_eq!(inner.live(), 0, "dropping the pool gives every stack back");

    // Capacity 0 caches nothing.
    let none = LocalPool::new(inner.clone(), 0);
    let s = none.allocate().unwrap();
    // SAFETY: from `none`, unused.
    unsafe { none.deallocate(s) };
    assert_eq!((none.cached(), inner.live()), (0, 0));
}

// ---------------------------------------------------------------------------
// What users of Boost.Context and corosensei reach for: force_unwind, the
// ForcedUnwind payload, on_stack, scoped coroutines, into_stack,
// on_parent_stack.

/// A stack allocator that counts the stacks it has out.
#[derive(Clone, Default)]
struct CountingStacks(Rc<Cell<usize>>);

// SAFETY: forwards to `FixedSizeStack`, counting.
unsafe impl StackAllocator for CountingStacks {
    fn allocate(&self) -> Result<Stack, StackError> {
        let s = FixedSizeStack::new(64 * 1024)?.allocate()?;
        self.0.set(self.0.get() + 1);
        Ok(s)
    }
    unsafe fn deallocate(&self, stack: Stack) {
        self.0.set(self.0.get() - 1);
        // SAFETY: every `FixedSizeStack` frees what any of them allocated
        // (the heap); `stack` is unused.
        unsafe { FixedSizeStack::new(64 * 1024).unwrap().deallocate(stack) }
    }
}

/// The address of a local in the caller's frame.
#[inline(never)]
fn here() -> usize {
    let x = 0u8;
    std::hint::black_box(&x) as *const u8 as usize
}

#[test]
fn coroutine_force_unwind_keeps_the_handle() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let mut co = Coroutine::<(), u32, ()>::new(move |y, ()| {
        let _a = Counted(d.clone());
        fn deeper(y: &Yielder<(), u32>, d: Rc<Cell<u32>>, n: u32) {
            let _b = Counted(d.clone());
            if n == 0 {
                loop {
                    y.suspend(7);
                }
            }
            deeper(y, d, n - 1);
        }
        deeper(y, d.clone(), 3);
    });
    assert_eq!(co.resume(()), CoroutineResult::Yield(7));
    assert_eq!(drops.get(), 0);
    co.force_unwind();
    assert_eq!(drops.get(), 1 + 4, "every frame's destructor ran");
    assert!(co.is_done() && co.is_started());
    co.force_unwind(); // finished: nothing to do
    let err = panic::catch_unwind(AssertUnwindSafe(|| co.resume(()))).unwrap_err();
    assert!(crate::panic_message(err).contains("already finished"));

    // Never started: the closure is dropped, it never runs.
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let d = Counted(drops.clone());
    let mut co = Coroutine::<(), (), ()>::new(move |_, ()| {
        let _d = d;
        r.set(true);
    });
    co.force_unwind();
    assert!(co.is_done() && !co.is_started() && !ran.get());
    assert_eq!(drops.get(), 6);

    // Code that caught the ForcedUnwind and panicked instead (a panic in a
    // destructor while unwinding aborts, as anywhere in Rust): the panic is
    // raised by force_unwind, and the coroutine is finished all the same.
    let mut co = Coroutine::<(), (), ()>::new(|y, ()| {
        let _ = panic::catch_unwind(AssertUnwindSafe(|| y.suspend(())));
        panic!("after the unwind");
    });
    co.resume(());
    let err = panic::catch_unwind(AssertUnwindSafe(|| co.force_unwind())).unwrap_err();
    assert_eq!(crate::panic_message(err), "after the unwind");
    assert!(co.is_done());
}

#[test]
fn fiber_force_unwind_leaves_a_terminated_handle() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let mut f = Fiber::new(move |c| {
        let _d = Counted(d);
        let c = c.resume();
        unreachable_after_unwind(c)
    })
    .resume();
    assert!(!f.is_terminated());
    f.force_unwind();
    assert!(f.is_terminated());
    assert_eq!(drops.get(), 1);
    f.force_unwind(); // terminated: nothing to do
}

/// Code that catches panics inside a coroutine or a fiber sees coframe's
/// public `ForcedUnwind` payload and, passing it on, lets the unwind finish.
#[test]
fn forced_unwind_payload_is_recognised_and_passed_on() {
    let seen = Rc::new(Cell::new(0));
    let drops = Rc::new(Cell::new(0));
    let (s, d) = (seen.clone(), drops.clone());
    let mut co = Coroutine::<(), (), ()>::new(move |y, ()| {
        let _outer = Counted(d.clone());
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            let _inner = Counted(d.clone());
            y.suspend(());
        }));
        if let Err(p) = r {
            if p.is::<ForcedUnwind>() {
                s.set(s.get() + 1);
                panic::resume_unwind(p);
            }
        }
        unreachable!("the coroutine was unwound");
    });
    co.resume(());
    drop(co);
    assert_eq!((seen.get(), drops.get()), (1, 2));

    let (s, d) = (seen.clone(), drops.clone());
    let f = Fiber::new(move |c| {
        let _outer = Counted(d.clone());
        let mut c = Some(c);
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            c = Some(c.take().unwrap().resume());
        }));
        match r {
            Err(p) if p.is::<ForcedUnwind>() => {
                s.set(s.get() + 1);
                panic::resume_unwind(p)
            }
            _ => unreachable!("the fiber was unwound"),
        }
    })
    .resume();
    drop(f);
    assert_eq!((seen.get(), drops.get()), (2, 3));
}

/// A fiber that swallows its forced unwind and returns would leave its
/// dropper suspended for ever: coframe ends the process with a message.
#[test]
fn a_fiber_that_swallows_its_forced_unwind_aborts_with_a_message() {
    const TEST: &str = "context::a_fiber_that_swallows_its_forced_unwind_aborts_with_a_message";
    if std::env::var("COFRAME_CHILD_SCENARIO").as_deref() == Ok("swallow") {
        let parked: Rc<RefCell<Option<Fiber>>> = Rc::new(RefCell::new(None));
        let p = parked.clone();
        let f = Fiber::new(move |c| {
            let mut c = Some(c);
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                c = Some(c.take().unwrap().resume());
            }));
            // Swallowed: go on to some other context.
            p.borrow_mut().take().unwrap()
        });
        let other = Fiber::new(|c| c.resume()).resume();
        *parked.borrow_mut() = Some(other);
        let f = f.resume();
        drop(f);
        return;
    }
    let (stderr, ok) = in_child(TEST, "swallow");
    assert!(!ok, "the child survived");
    assert!(
        stderr.contains("caught its ForcedUnwind and returned"),
        "stderr was {stderr}"
    );
}

#[test]
fn on_stack_runs_to_the_end_on_the_given_stack() {
    // Deeper than the test thread's 2 MiB stack allows.
    fn depth(n: u32) -> u32 {
        let pad = std::hint::black_box([n as u8; 512]);
        if n == 0 {
            pad[0].into()
        } else {
            depth(n - 1) + 1
        }
    }
    let stack = OwnedStack::new(ProtectedStack::new(32 << 20).unwrap()).unwrap();
    assert_eq!(on_stack(&stack, || depth(8_000)), 8_000);

    // It borrows from the caller, runs on the OwnedStack's one stack (the
    // same addresses every time, far from ours), and gives it back.
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(on_stack(&stack, here));
    }
    // Under ASan's fake stacks (detect_stack_use_after_return) a local's
    // address is not on the real stack (CI saw three different ones), so
    // the addresses are compared only without them, as in into_stack's test.
    if !cfg!(feature = "asan") {
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:x?}");
        assert!(seen[0].abs_diff(here()) > 64 * 1024);
    }
    assert!(
        stack.allocate().is_ok(),
        "the stack is back in the OwnedStack"
    );

    // A panic is raised in the caller with its payload; the stack comes back.
    let counting = CountingStacks::default();
    let err = panic::catch_unwind(AssertUnwindSafe(|| {
        on_stack(&counting, || panic::panic_any(5u8));
    }))
    .unwrap_err();
    assert_eq!(*err.downcast_ref::<u8>().unwrap(), 5);
    assert_eq!(counting.0.get(), 0, "the stack went back");

    // No stack to give: a panic naming the problem.
    let busy = OwnedStack::new(FixedSizeStack::default()).unwrap();
    let s = busy.allocate().unwrap();
    let err = panic::catch_unwind(AssertUnwindSafe(|| on_stack(&busy, || ()))).unwrap_err();
    assert!(
        crate::panic_message(err).contains("on_stack: no stack to run on"),
        "bad message"
    );
    // SAFETY: from `busy`, unused.
    unsafe { busy.deallocate(s) };
}

#[test]
fn scoped_coroutine_borrows_from_the_caller() {
    let words = vec!["stack".to_string(), "ful".to_string()];
    let mut joined = String::new();
    {
        let mut co = ScopedCoroutine::<&str, &str, usize>::new(|y, mut sep| {
            for w in &words {
                joined.push_str(w);
                joined.push_str(sep);
                sep = y.suspend(w.as_str());
            }
            words.len()
        });
        assert_eq!(co.resume("-"), CoroutineResult::Yield("stack"));
        assert_eq!(co.resume("+"), CoroutineResult::Yield("ful"));
        assert_eq!(co.resume("!"), CoroutineResult::Return(2));
    }
    assert_eq!(joined, "stack-ful+");

    // Dropped while suspended: its destructors, which use the borrow, run.
    let mut log: Vec<&str> = Vec::new();
    {
        struct Note<'l>(&'l mut Vec<&'static str>);
        impl Drop for Note<'_> {
            fn drop(&mut self) {
                self.0.push("unwound");
            }
        }
        let mut co = ScopedCoroutine::<(), (), ()>::new(|y, ()| {
            let _n = Note(&mut log);
            y.suspend(());
        });
        co.resume(());
    }
    assert_eq!(log, ["unwound"]);
}

/// A scoped coroutine may suspend the coroutine it runs in, through that
/// one's borrowed `Yielder`. Unwinding the enclosing coroutine then raises
/// its `ForcedUnwind` on the nested stack: the nested base must pass it on
/// (to the enclosing stack, where it goes on), not take it for its own.
#[test]
fn a_nested_scoped_coroutine_passes_an_enclosing_unwind_on() {
    let drops = Rc::new(Cell::new(0));
    let make = |drops: Rc<Cell<u32>>| {
        Coroutine::<(), u32, u32>::new(move |outer, ()| {
            let _o = Counted(drops.clone());
            let mut inner = ScopedCoroutine::<(), (), u32>::new(|_, ()| {
                let _i = Counted(drops.clone());
                // Suspends the *outer* coroutine, from the inner stack.
                outer.suspend(1);
                outer.suspend(2);
                10
            });
            match inner.resume(()) {
                CoroutineResult::Return(v) => v + 1,
                CoroutineResult::Yield(()) => unreachable!(),
            }
        })
    };
    // Run to the end: both suspensions reach the outer resumer.
    let mut co = make(drops.clone());
    assert_eq!(co.resume(()), CoroutineResult::Yield(1));
    assert_eq!(co.resume(()), CoroutineResult::Yield(2));
    assert_eq!(co.resume(()), CoroutineResult::Return(11));
    assert_eq!(drops.get(), 2);
    // Unwound while suspended inside the inner coroutine.
    let mut co = make(drops.clone());
    assert_eq!(co.resume(()), CoroutineResult::Yield(1));
    co.force_unwind();
    assert!(co.is_done());
    assert_eq!(drops.get(), 4, "both stacks unwound");
}

#[test]
fn into_stack_takes_back_the_same_stack() {
    let live = CountingStacks::default();
    let mut stack = OwnedStack::new(live.clone()).unwrap();
    assert_eq!(live.0.get(), 1);
    let mut at = Vec::new();
    for i in 0..3u32 {
        let mut co = Coroutine::<(), (), (u32, usize)>::with_stack(stack, move |_, ()| (i, here()));
        let CoroutineResult::Return((j, addr)) = co.resume(()) else {
            panic!("no return")
        };
        assert_eq!(j, i);
        at.push(addr);
        stack = co.into_stack().expect("made on an OwnedStack");
        assert_eq!(live.0.get(), 1, "no other stack was taken");
    }
    // Under ASan's fake stacks (detect_stack_use_after_return) a local's
    // address is not on the real stack, so only the count is checked there.
    if !cfg!(feature = "asan") {
        assert!(at.windows(2).all(|w| w[0] == w[1]), "{at:x?}");
    }

    // Unfinished: a panic that says what to do; unwound first, it works,
    // started or not.
    let mut co = Coroutine::<(), (), ()>::with_stack(stack, |y, ()| y.suspend(()));
    co.resume(());
    let err = panic::catch_unwind(AssertUnwindSafe(|| {
        let co =
            Coroutine::<(), (), ()>::with_stack(OwnedStack::new(live.clone()).unwrap(), |_, ()| ());
        co.into_stack()
    }))
    .unwrap_err();
    assert!(crate::panic_message(err).contains("force_unwind it first"));
    assert_eq!(live.0.get(), 1, "the panicking call's stack went back");
    co.force_unwind();
    let stack = co.into_stack().unwrap();
    let mut co = Coroutine::<(), (), ()>::with_stack(stack, |_, ()| ());
    co.force_unwind();
    assert!(!co.is_started());
    let stack = co.into_stack().unwrap();

    // Dropping a finished coroutine that kept its stack gives it back to
    // where the OwnedStack took it from; so does dropping the OwnedStack.
    let mut co = Coroutine::<(), (), ()>::with_stack(stack, |_, ()| ());
    co.resume(());
    assert_eq!(live.0.get(), 1);
    drop(co);
    assert_eq!(live.0.get(), 0);
    let co = ScopedCoroutine::<(), (), ()>::with_stack(
        OwnedStack::new(live.clone()).unwrap(),
        |_, ()| (),
    );
    drop(co); // never started
    assert_eq!(live.0.get(), 0);

    // Any other allocator took its stack back at the end: None.
    let mut co = Coroutine::<(), (), ()>::with_stack(live.clone(), |_, ()| ());
    co.resume(());
    assert_eq!(live.0.get(), 0);
    assert!(co.into_stack().is_none());
}

#[test]
fn on_parent_stack_runs_on_the_resumers_stack() {
    // 256 KiB of locals: an overflow on the coroutine's 64 KiB stack.
    fn big_frame() -> (u32, usize) {
        let big = std::hint::black_box([1u8; 256 * 1024]);
        (big.iter().map(|&b| u32::from(b)).sum(), here())
    }
    let parent = here();
    let mut co =
        Coroutine::<(), u32, ()>::with_stack(ProtectedStack::new(64 * 1024).unwrap(), |y, ()| {
            let inside = here();
            // Several times, with suspensions between (each resume is a new
            // parent context).
            for _ in 0..3 {
                let (sum, at) = y.on_parent_stack(big_frame);
                assert!(
                    at.abs_diff(inside) > 64 * 1024,
                    "ran on the coroutine's stack"
                );
                y.suspend(sum);
            }
            // A panic comes back here.
            let err = panic::catch_unwind(AssertUnwindSafe(|| {
                y.on_parent_stack(|| panic::panic_any(9i32))
            }))
            .unwrap_err();
            assert_eq!(*err.downcast_ref::<i32>().unwrap(), 9);
            y.suspend(0);
        });
    for _ in 0..3 {
        assert_eq!(co.resume(()), CoroutineResult::Yield(256 * 1024));
    }
    assert_eq!(co.resume(()), CoroutineResult::Yield(0));
    assert_eq!(co.resume(()), CoroutineResult::Return(()));
    // ... and on_parent's frames were below ours on this very stack.
    let on_parent = Rc::new(Cell::new(0));
    let o = on_parent.clone();
    let mut co = Coroutine::<(), (), ()>::new(move |y, ()| o.set(y.on_parent_stack(here)));
    co.resume(());
    assert!(parent.abs_diff(on_parent.get()) < 16 * 1024);

    // From a nested coroutine (the parent is another coroutine's stack),
    // and from a destructor while the coroutine is being unwound (the
    // parent is the dropping frame).
    let ran = Rc::new(Cell::new(0));
    let r = ran.clone();
    let mut outer = Coroutine::<(), (), ()>::new(move |_, ()| {
        let r2 = r.clone();
        let mut inner = Coroutine::<(), (), ()>::new(move |y, ()| {
            struct OnDrop<'y>(&'y Yielder<(), ()>, Rc<Cell<u32>>);
            impl Drop for OnDrop<'_> {
                fn drop(&mut self) {
                    let n = self.0.on_parent_stack(|| 100);
                    self.1.set(self.1.get() + n);
                }
            }
            let _d = OnDrop(y, r2.clone());
            r2.set(r2.get() + y.on_parent_stack(|| 1));
            y.suspend(());
        });
        inner.resume(());
        drop(inner);
    });
    outer.resume(());
    assert!(outer.is_done());
    assert_eq!(ran.get(), 101);
}
