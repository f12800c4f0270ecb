// SPDX-License-Identifier: MIT
//
// rtasync-peer-tokio-http: HTTP/1.1 plaintext on Tokio's current_thread
// runtime, written the way a Rust user writes a minimal server without
// hyper: a task per connection, read into a buffer, answer every complete
// request head in it (pipelining), write the answers in one write.
//
//   rtasync-peer-tokio-http [--port PORT]
//
// GET / answers "Hello, World!" with the same headers as rtasync-httpd
// (Server, Date, Content-Type, Content-Length). It parses less than
// rtasync-httpd does: a request is whatever ends with an empty line, no
// field is checked, no deadline is armed. Prints
// "rtasync-peer-tokio-http: listening on ADDR:PORT" once it accepts.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const HELLO: &[u8] = b"Hello, World!";
const BUF: usize = 8192;

// "Wed, 02 Dec 2026 09:16:29 GMT" for a Unix time (civil from days).
fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// The answer, rebuilt once a second (one runtime thread: a thread local).
struct Answer {
    secs: u64,
    bytes: Vec<u8>,
}

thread_local! {
    static ANSWER: std::cell::RefCell<Answer> =
        std::cell::RefCell::new(Answer { secs: 0, bytes: Vec::new() });
}

fn push_answer(out: &mut Vec<u8>) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    ANSWER.with(|a| {
        let mut a = a.borrow_mut();
        if a.secs != secs || a.bytes.is_empty() {
            a.secs = secs;
            a.bytes.clear();
            let _ = write!(
                a.bytes,
                "HTTP/1.1 200 OK\r\nServer: tokio\r\nDate: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
                http_date(secs),
                HELLO.len()
            );
            a.bytes.extend_from_slice(HELLO);
        }
        out.extend_from_slice(&a.bytes);
    });
}

fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

async fn serve(mut sock: TcpStream) {
    let mut buf = vec![0u8; BUF];
    let mut len = 0;
    let mut out = Vec::with_capacity(BUF);
    loop {
        let n = match sock.read(&mut buf[len..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        len += n;
        let mut start = 0;
        while let Some(end) = head_end(&buf[start..len]) {
            push_answer(&mut out);
            start += end;
        }
        if start == 0 && len == BUF {
            return; // a head over 8 KiB
        }
        buf.copy_within(start..len, 0);
        len -= start;
        if !out.is_empty() {
            if sock.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    }
}

fn main() {
    let mut port = 0u16;
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        match (args[i].as_str(), args.get(i + 1)) {
            ("--port", Some(p)) => port = p.parse().expect("--port: a number"),
            _ => {
                eprintln!("usage: rtasync-peer-tokio-http [--port PORT]");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let ln = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        println!(
            "rtasync-peer-tokio-http: listening on {}",
            ln.local_addr().expect("addr")
        );
        let _ = std::io::stdout().flush();
        loop {
            if let Ok((sock, _)) = ln.accept().await {
                tokio::spawn(serve(sock));
            }
        }
    });
}
