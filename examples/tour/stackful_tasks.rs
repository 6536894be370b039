//! Part: stackful tasks on an executor — the manual's recursive-descent
//! parser, written as ordinary blocking code, runs as a stackful task that
//! pulls its input from an async channel fed by an async task.

use coframe::stackful::wait;
use coframe::LocalExecutor;
use std::time::Instant;

/// A recursive-descent parser over a character source that blocks:
/// `next()` waits on the channel when no character is buffered.
struct Parser<'a> {
    next: &'a mut dyn FnMut() -> Option<char>,
    look: Option<char>,
    out: Vec<String>,
}

impl Parser<'_> {
    fn bump(&mut self) {
        self.look = (self.next)();
    }
    // E ---> T {('+'|'-') T}
    fn expr(&mut self) -> Result<i64, String> {
        let mut v = self.term()?;
        while let Some(op @ ('+' | '-')) = self.look {
            self.bump();
            let r = self.term()?;
            v = if op == '+' { v + r } else { v - r };
            self.out.push(format!("{op}"));
        }
        Ok(v)
    }
    // T ---> S {('*'|'/') S}
    fn term(&mut self) -> Result<i64, String> {
        let mut v = self.factor()?;
        while let Some(op @ ('*' | '/')) = self.look {
            self.bump();
            let r = self.factor()?;
            v = if op == '*' { v * r } else { v / r };
            self.out.push(format!("{op}"));
        }
        Ok(v)
    }
    // S ---> digit | '(' E ')'
    fn factor(&mut self) -> Result<i64, String> {
        match self.look {
            Some(c @ '0'..='9') => {
                self.bump();
                self.out.push(c.to_string());
                Ok(c as i64 - '0' as i64)
            }
            Some('(') => {
                self.bump();
                let v = self.expr()?;
                if self.look != Some(')') {
                    return Err(format!("expected ')' but found {:?}", self.look));
                }
                self.bump();
                Ok(v)
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

pub fn run() {
    println!("\n== 5. stackful tasks: a blocking-style parser inside an async program");
    let ex = LocalExecutor::new();
    let (tx, rx) = async_channel::bounded::<char>(2);
    let text = "(1+2)*(3+4)-5*2";
    // The async producer: feeds one character at a time.
    let producer = ex.spawn(async move {
        for c in text.chars() {
            tx.send(c).await.unwrap();
        }
    });
    // The stackful consumer: plain recursive code; `next()` blocks on the
    // channel by waiting on its future, suspending only this task's stack.
    let waits = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let w = waits.clone();
    let parser = ex.spawn_stackful(move || {
        let mut next = || {
            w.set(w.get() + 1);
            wait(rx.recv()).ok()
        };
        let mut p = Parser {
            next: &mut next,
            look: None,
            out: vec![],
        };
        p.bump();
        let value = p.expr();
        (value, p.out.join(" "))
    });
    let t = Instant::now();
    let (value, rpn) = ex.run_until(async {
        producer.await.unwrap();
        parser.await.unwrap()
    });
    println!("   input  {text:?}");
    println!("   parsed to RPN: {rpn}");
    println!(
        "   value: {:?} after {} blocking reads from the channel",
        value,
        waits.get()
    );
    println!("   took {:?}", t.elapsed());
    assert_eq!(value, Ok(11));

    // Many at once: memory per suspended stackful task.
    const N: usize = 20_000;
    let (tx, rx) = async_channel::unbounded::<u32>();
    let statm = || -> usize {
        let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
        s.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
            * 4096
    };
    let before = statm();
    let t = Instant::now();
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let rx = rx.clone();
            ex.spawn_stackful(move || wait(rx.recv()).unwrap() as u64)
        })
        .collect();
    ex.run_until_stalled();
    let per = statm().saturating_sub(before) / N;
    for i in 0..N as u32 {
        tx.try_send(i).unwrap();
    }
    let sum: u64 = ex.run_until(async move {
        let mut s = 0;
        for h in handles {
            s += h.await.unwrap();
        }
        s
    });
    println!(
        "   {N} stackful tasks suspended at once: {per} bytes resident each; released and joined in {:?} (sum {sum})",
        t.elapsed()
    );
}
