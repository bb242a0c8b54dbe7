//! `zkstorm bench --real`: a 3-server zkstorm ensemble and a 3-server
//! Apache ZooKeeper ensemble on loopback, each started from its own
//! zoo.cfg, driven by the same load over ZooKeeper's protocol: sessions
//! spread over the servers, each writing (setData) then reading (getData)
//! its own 100-byte znode, one request at a time, after an uncounted
//! warm-up of writes. Both fsync their log (ZooKeeper's default
//! forceSync=yes; zkstorm always).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zkstorm::acl;
use zkstorm::jute::records::{
    write_acls, ConnectRequest, ConnectResponse, ReplyHeader, RequestHeader,
};
use zkstorm::jute::{frame, op, Reader, Writer};

pub struct Options {
    pub secs: f64,
    pub sessions: usize,
    pub json: bool,
    pub zookeeper_jar: PathBuf,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Zkstorm,
    Zookeeper,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Zkstorm => "zkstorm",
            Kind::Zookeeper => "zookeeper",
        }
    }
    /// Client ports base+1..=3, peer ports +100, election ports +200.
    fn base(self) -> u16 {
        match self {
            Kind::Zkstorm => 27180,
            Kind::Zookeeper => 28180,
        }
    }
}

/// One phase's figures.
#[derive(Default, Clone, serde::Serialize)]
pub struct Phase {
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
}

#[derive(Default, Clone, serde::Serialize)]
pub struct Figures {
    pub writes: Phase,
    pub reads: Phase,
}

/// Servers of one kind, stopped (and their files removed) on drop.
struct Ensemble {
    kind: Kind,
    dir: PathBuf,
    procs: Vec<Child>,
    /// Keep the logs: the run failed.
    keep: bool,
}

impl Ensemble {
    fn start(kind: Kind, opts: &Options) -> Result<Ensemble, String> {
        let dir = std::env::temp_dir().join(format!(
            "zkstorm-bench-{}-{}",
            kind.name(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let mut e = Ensemble {
            kind,
            dir,
            procs: Vec::new(),
            keep: false,
        };
        for i in 1..=3u16 {
            let cfg = e
                .config(i)
                .map_err(|err| format!("{}: {err}", e.dir.display()))?;
            let log = std::fs::File::create(e.dir.join(format!("server{i}.log")))
                .map_err(|err| err.to_string())?;
            let mut cmd = match kind {
                Kind::Zkstorm => {
                    let exe = std::env::current_exe().map_err(|err| err.to_string())?;
                    let mut c = Command::new(exe);
                    c.arg("server").arg("--config").arg(&cfg);
                    c
                }
                Kind::Zookeeper => {
                    let mut c = Command::new("java");
                    c.arg("-Xmx512m").arg("-cp").arg(&opts.zookeeper_jar);
                    c.arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
                        .arg(&cfg);
                    c
                }
            };
            cmd.stdout(log.try_clone().map_err(|err| err.to_string())?)
                .stderr(log)
                .stdin(Stdio::null());
            let child = cmd
                .spawn()
                .map_err(|err| format!("starting {}: {err}", kind.name()))?;
            e.procs.push(child);
        }
        if let Err(err) = e.wait_serving(Duration::from_secs(90)) {
            e.keep = true;
            return Err(err);
        }
        Ok(e)
    }

    fn port(&self, i: u16) -> u16 {
        self.kind.base() + i
    }

    fn config(&self, i: u16) -> std::io::Result<PathBuf> {
        let data = self.dir.join(format!("data{i}"));
        std::fs::create_dir_all(&data)?;
        std::fs::write(data.join("myid"), format!("{i}\n"))?;
        let base = self.kind.base();
        let mut text = format!(
            "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\n\
             clientPortAddress=127.0.0.1\n4lw.commands.whitelist=srvr\nadmin.enableServer=false\n\
             maxClientCnxns=0\n",
            data.display(),
            self.port(i)
        );
        for j in 1..=3 {
            text += &format!(
                "server.{j}=127.0.0.1:{}:{}\n",
                base + 100 + j,
                base + 200 + j
            );
        }
        let path = self.dir.join(format!("zoo{i}.cfg"));
        std::fs::write(&path, text)?;
        Ok(path)
    }

    fn wait_serving(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            for p in &mut self.procs {
                if let Ok(Some(status)) = p.try_wait() {
                    return Err(format!(
                        "a {} server exited ({status}); see {}",
                        self.kind.name(),
                        self.dir.display()
                    ));
                }
            }
            if (1..=3).all(|i| serving(self.port(i))) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(format!(
            "{} ensemble not serving within {limit:?}; logs in {}",
            self.kind.name(),
            self.dir.display()
        ))
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `srvr` answers with a mode once the server serves.
fn serving(port: u16) -> bool {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut out = String::new();
    s.write_all(b"srvr").is_ok()
        && s.read_to_string(&mut out).is_ok()
        && (out.contains("Mode: leader") || out.contains("Mode: follower"))
}

/// A ZooKeeper-protocol session doing one request at a time.
struct Session {
    stream: TcpStream,
    xid: i32,
    buf: Vec<u8>,
}

impl Session {
    async fn connect(port: u16) -> std::io::Result<Session> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        let mut s = Session {
            stream,
            xid: 0,
            buf: Vec::new(),
        };
        let mut w = Writer::new();
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 10_000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        }
        .write(&mut w);
        s.stream.write_all(&frame::encode(&w.buf)).await?;
        s.read_frame().await?;
        ConnectResponse::read(&mut Reader::new(&s.buf)).map_err(invalid)?;
        Ok(s)
    }

    async fn read_frame(&mut self) -> std::io::Result<()> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).await?;
        let len = i32::from_be_bytes(len);
        if !(0..=frame::MAX_PACKET as i32).contains(&len) {
            return Err(invalid(format!("reply length {len}")));
        }
        self.buf.resize(len as usize, 0);
        self.stream.read_exact(&mut self.buf).await.map(|_| ())
    }

    /// Send one request and wait for its reply's error code.
    async fn call(&mut self, opcode: i32, body: impl FnOnce(&mut Writer)) -> std::io::Result<i32> {
        self.xid += 1;
        let mut w = Writer::new();
        RequestHeader {
            xid: self.xid,
            opcode,
        }
        .write(&mut w);
        body(&mut w);
        self.stream.write_all(&frame::encode(&w.buf)).await?;
        loop {
            self.read_frame().await?;
            let h = ReplyHeader::read(&mut Reader::new(&self.buf)).map_err(invalid)?;
            if h.xid == self.xid {
                return Ok(h.err);
            }
        }
    }
}

fn invalid(e: impl ToString) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

/// Latencies in microseconds and errors of one session's phase.
#[derive(Default)]
struct Tally {
    micros: Vec<u32>,
    errors: u64,
}

async fn drive(port: u16, n: usize, secs: f64) -> Result<(Tally, Tally), String> {
    let at = |what: &'static str| {
        move |e: std::io::Error| format!("session {n} on port {port}: {what}: {e}")
    };
    let mut s = Session::connect(port).await.map_err(at("connect"))?;
    let path = format!("/bench-{n}");
    let value = vec![b'v'; 100];
    s.call(op::CREATE, |w| {
        w.ustring(&path).buffer(&value);
        write_acls(w, &acl::open());
        w.int(0);
    })
    .await
    .map_err(at("create"))?;
    let mut phases = Vec::new();
    // A warm-up phase, not counted (the JVM compiles its hot paths; our
    // servers grow their buffers), then writes, then reads.
    for (write, counted) in [(true, false), (true, true), (false, true)] {
        let mut t = Tally::default();
        let length = if counted { secs } else { secs.min(2.0) };
        let end = Instant::now() + Duration::from_secs_f64(length);
        while Instant::now() < end {
            let start = Instant::now();
            let err = if write {
                s.call(op::SET_DATA, |w| {
                    w.ustring(&path).buffer(&value).int(-1);
                })
                .await
                .map_err(at("setData"))?
            } else {
                s.call(op::GET_DATA, |w| {
                    w.ustring(&path).boolean(false);
                })
                .await
                .map_err(at("getData"))?
            };
            t.micros
                .push(start.elapsed().as_micros().min(u32::MAX as u128) as u32);
            t.errors += u64::from(err != 0);
        }
        if counted {
            phases.push(t);
        }
    }
    let reads = phases.pop().unwrap_or_default();
    let writes = phases.pop().unwrap_or_default();
    Ok((writes, reads))
}

fn phase(tallies: Vec<Tally>, secs: f64) -> Phase {
    let errors = tallies.iter().map(|t| t.errors).sum();
    let mut all: Vec<u32> = tallies.into_iter().flat_map(|t| t.micros).collect();
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 * p) as usize).min(all.len() - 1);
        f64::from(all[i]) / 1000.0
    };
    Phase {
        ops_per_sec: all.len() as f64 / secs,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        errors,
    }
}

fn measure(kind: Kind, opts: &Options) -> Result<Figures, String> {
    let e = Ensemble::start(kind, opts)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| err.to_string())?;
    let results = rt.block_on(async {
        let mut tasks = Vec::new();
        for n in 0..opts.sessions {
            let port = e.port(1 + (n % 3) as u16);
            tasks.push(tokio::spawn(drive(port, n, opts.secs)));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.map_err(|err| err.to_string())?);
        }
        Ok::<_, String>(out)
    })?;
    let mut e = e;
    let mut writes = Vec::new();
    let mut reads = Vec::new();
    for r in results {
        let (w, rd) = r.map_err(|err| {
            e.keep = true;
            format!("{}: {err} (logs in {})", kind.name(), e.dir.display())
        })?;
        writes.push(w);
        reads.push(rd);
    }
    Ok(Figures {
        writes: phase(writes, opts.secs),
        reads: phase(reads, opts.secs),
    })
}

pub fn run(opts: &Options) -> Result<(), String> {
    if !Path::new(&opts.zookeeper_jar).exists() {
        return Err(format!(
            "{}: no ZooKeeper jar (apt install zookeeper, or give --zookeeper-jar)",
            opts.zookeeper_jar.display()
        ));
    }
    let ours = measure(Kind::Zkstorm, opts)?;
    let theirs = measure(Kind::Zookeeper, opts)?;
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let write_ratio = ratio(ours.writes.ops_per_sec, theirs.writes.ops_per_sec);
    let read_ratio = ratio(ours.reads.ops_per_sec, theirs.reads.ops_per_sec);
    if opts.json {
        let doc = serde_json::json!({
            "sessions": opts.sessions,
            "secs": opts.secs,
            "value_bytes": 100,
            "zkstorm": ours,
            "zookeeper": theirs,
            "write_ratio": write_ratio,
            "read_ratio": read_ratio,
        });
        println!("{doc:#}");
        return Ok(());
    }
    println!(
        "3 servers each on loopback, {} sessions, 100-byte values, {} s per phase after a warm-up, fsync on",
        opts.sessions, opts.secs
    );
    println!(
        "{:<11} {:>12} {:>9} {:>9} {:>12} {:>9} {:>9}",
        "", "writes/s", "p50 ms", "p99 ms", "reads/s", "p50 ms", "p99 ms"
    );
    for (name, f) in [("zkstorm", &ours), ("zookeeper", &theirs)] {
        println!(
            "{:<11} {:>12.0} {:>9.2} {:>9.2} {:>12.0} {:>9.2} {:>9.2}",
            name,
            f.writes.ops_per_sec,
            f.writes.p50_ms,
            f.writes.p99_ms,
            f.reads.ops_per_sec,
            f.reads.p50_ms,
            f.reads.p99_ms
        );
    }
    let errors =
        ours.writes.errors + ours.reads.errors + theirs.writes.errors + theirs.reads.errors;
    println!("zkstorm / zookeeper: writes {write_ratio:.2}x (goal >= 1.0), reads {read_ratio:.2}x");
    if errors > 0 {
        println!("errors answered: {errors}");
    }
    Ok(())
}
