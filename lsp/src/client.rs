//! A minimal blocking JSON-RPC client for a language server child process: what the end-to-end
//! tests and the `lsp-bench` benchmark use to talk to the real `tlc lsp` over stdio.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub struct StdioClient {
    child: Child,
    stdin: ChildStdin,
    incoming: Receiver<Value>,
    /// Notifications read while waiting for something else.
    pending: VecDeque<Value>,
    next_id: i64,
    pub timeout: Duration,
}

impl StdioClient {
    /// Starts `program args...` with piped stdio (stderr is inherited, for panics and logs).
    pub fn spawn(program: &str, args: &[&str]) -> std::io::Result<StdioClient> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(msg) = read_message(&mut reader) {
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        Ok(StdioClient {
            child,
            stdin,
            incoming: rx,
            pending: VecDeque::new(),
            next_id: 1,
            timeout: Duration::from_secs(30),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes raw bytes as one framed message (for malformed-input tests).
    pub fn send_raw(&mut self, body: &[u8]) {
        let header = format!("Content-Length: {}\r\n\r\n", body.len());
        let _ = self.stdin.write_all(header.as_bytes());
        let _ = self.stdin.write_all(body);
        let _ = self.stdin.flush();
    }

    fn send(&mut self, msg: &Value) {
        self.send_raw(msg.to_string().as_bytes());
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and returns its whole response (`result` or `error`).
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.start_request(method, params);
        self.response(id)
            .unwrap_or_else(|| panic!("no response to {method} within {:?}", self.timeout))
    }

    /// Sends a request without waiting for its response; returns its id for [`Self::response`].
    pub fn start_request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        id
    }

    /// The response to request `id` (`result` or `error`), or `None` after the timeout.
    pub fn response(&mut self, id: i64) -> Option<Value> {
        if let Some(i) = self
            .pending
            .iter()
            .position(|m| m.get("id") == Some(&json!(id)) && m.get("method").is_none())
        {
            return self.pending.remove(i);
        }
        self.wait(|m| m.get("id") == Some(&json!(id)) && m.get("method").is_none())
    }

    /// Every notification `method` received so far (kept for later waits too).
    pub fn seen(&mut self, method: &str) -> Vec<Value> {
        while let Ok(m) = self.incoming.try_recv() {
            if !self.answer_server_request(&m) {
                self.pending.push_back(m);
            }
        }
        self.pending
            .iter()
            .filter(|m| m["method"] == method)
            .map(|m| m["params"].clone())
            .collect()
    }

    /// The result of a request; panics on an error response.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let r = self.request(method, params);
        if let Some(e) = r.get("error") {
            panic!("{method} failed: {e}");
        }
        r["result"].clone()
    }

    /// The next notification `method` satisfying `pred`, or `None` after the timeout.
    pub fn notification(&mut self, method: &str, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        if let Some(i) = self
            .pending
            .iter()
            .position(|m| m["method"] == method && pred(&m["params"]))
        {
            return self.pending.remove(i).map(|m| m["params"].clone());
        }
        self.wait(|m| m["method"] == method && m.get("id").is_none() && pred(&m["params"]))
            .map(|m| m["params"].clone())
    }

    /// Drops notifications received so far.
    pub fn clear(&mut self) {
        self.pending.clear();
        while let Ok(m) = self.incoming.try_recv() {
            self.answer_server_request(&m);
        }
    }

    fn wait(&mut self, want: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.incoming.recv_timeout(left) {
                Ok(m) if want(&m) => return Some(m),
                Ok(m) => {
                    if !self.answer_server_request(&m) {
                        self.pending.push_back(m);
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    return None
                }
            }
        }
    }

    /// Server-to-client requests (configuration, registration, refresh) get a null result.
    fn answer_server_request(&mut self, m: &Value) -> bool {
        if m.get("id").is_some() && m.get("method").is_some() {
            let id = m["id"].clone();
            let result = if m["method"] == "workspace/configuration" {
                json!([{ "inlayHints": { "enabled": true } }])
            } else {
                Value::Null
            };
            self.send(&json!({ "jsonrpc": "2.0", "id": id, "result": result }));
            return true;
        }
        false
    }

    /// `shutdown` then `exit`; returns the exit code.
    pub fn shutdown(mut self) -> Option<i32> {
        let _ = self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for StdioClient {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length:") {
            length = v.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}
