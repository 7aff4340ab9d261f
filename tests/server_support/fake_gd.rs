//! A GD database server that answers from fixed text over real HTTP and records what it
//! was sent: for the bot's handling of answers the emulator does not produce (a real
//! inbox page captured from GD).

use dashauth::gd;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request the fake received: the endpoint and its form fields.
#[derive(Debug, Clone)]
pub struct Received {
    pub endpoint: String,
    pub fields: Vec<(String, String)>,
}

impl Received {
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Answers each request with `answer(endpoint, nth request to that endpoint)`.
pub struct FakeGd {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl FakeGd {
    pub fn start(answer: impl Fn(&str, usize) -> String + Send + Sync + 'static) -> FakeGd {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/database", listener.local_addr().expect("addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, answer) = (log.clone(), answer.clone());
                std::thread::spawn(move || serve(stream, &log, answer.as_ref()));
            }
        });
        FakeGd { url, received }
    }

    pub fn requests(&self, endpoint: &str) -> Vec<Received> {
        let all = self.received.lock().unwrap_or_else(|e| e.into_inner());
        all.iter()
            .filter(|r| r.endpoint == endpoint)
            .cloned()
            .collect()
    }
}

/// Serves the requests of one (keep-alive) connection.
fn serve(
    stream: TcpStream,
    log: &Mutex<Vec<Received>>,
    answer: &(dyn Fn(&str, usize) -> String + Send + Sync),
) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string();
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let endpoint = path.rsplit('/').next().unwrap_or("").to_string();
        let fields = gd::form_decode(&String::from_utf8_lossy(&body));
        let nth = {
            let mut all = log.lock().unwrap_or_else(|e| e.into_inner());
            let nth = all.iter().filter(|r| r.endpoint == endpoint).count();
            all.push(Received {
                endpoint: endpoint.clone(),
                fields,
            });
            nth
        };
        let text = answer(&endpoint, nth);
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}
