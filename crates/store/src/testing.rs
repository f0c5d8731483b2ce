/*!
A throwaway PostgreSQL server for tests (feature `pg-fixture`): `initdb`
and `pg_ctl` from the machine's PostgreSQL, in a scratch folder, as an
unprivileged user (`nobody` when the tests run as root, as PostgreSQL
refuses root), listening on a free loopback port with a password. Stopped
and removed on drop.
*/

use std::fs;
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running PostgreSQL server of the test's own.
#[derive(Debug)]
pub struct TempPostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// Run commands as this user (None: as ourselves).
    as_user: Option<String>,
}

/// The user and password every fixture server has.
pub const USER: &str = "phoneboot";
pub const PASSWORD: &str = "fixture-secret-7fd1";

impl TempPostgres {
    /// initdb + start; `label` names the scratch folder.
    pub fn start(label: &str) -> io::Result<TempPostgres> {
        let bin = find_bin()?;
        let dir = std::env::temp_dir().join(format!("pg-{label}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        let as_user = running_as_root().then(|| "nobody".to_owned());
        if as_user.is_some() {
            let uid = id_of("nobody")?;
            chown_tree(&dir, uid)?;
        }
        fs::write(dir.join("pw"), PASSWORD)?;
        if as_user.is_some() {
            chown_tree(&dir, id_of("nobody")?)?;
        }
        let port = free_port()?;
        let pg = TempPostgres {
            dir,
            bin,
            port,
            as_user,
        };
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data().to_string_lossy(),
                "-U",
                USER,
                "--auth=scram-sha-256",
                "--pwfile",
                &pg.dir.join("pw").to_string_lossy(),
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        pg.start_server()?;
        Ok(pg)
    }

    /// `postgresql://phoneboot:PASSWORD@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!(
            "postgresql://{USER}:{PASSWORD}@127.0.0.1:{}/postgres",
            self.port
        )
    }

    /// The same server through its Unix socket in the scratch folder: a
    /// process in another network namespace (whose loopback is its own)
    /// still reaches it through the file system.
    pub fn socket_url(&self) -> String {
        let dir: String = self
            .dir
            .to_string_lossy()
            .bytes()
            .map(|b| match b {
                b'/' => "%2F".to_owned(),
                b => (b as char).to_string(),
            })
            .collect();
        format!(
            "postgresql://{USER}:{PASSWORD}@{dir}:{}/postgres",
            self.port
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server at once (`-m immediate`: like a crash, recovery
    /// from the WAL on the next start).
    pub fn crash(&self) -> io::Result<()> {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )
        .map(|_| ())
    }

    /// Starts it again on the same port.
    pub fn start_server(&self) -> io::Result<()> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().to_string_lossy(),
                "-l",
                &self.dir.join("log").to_string_lossy(),
                "-o",
                &opts,
                "-w",
                "start",
            ],
        )
        .map(|_| ())
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> io::Result<Output> {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = cmd.args(args).current_dir(&self.dir).output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "{tool} {args:?} failed: {}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log()
            )));
        }
        Ok(out)
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let _ = self.crash();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The newest `/usr/lib/postgresql/N/bin`, else the folder of `initdb` on
/// the PATH.
fn find_bin() -> io::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let out = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Path::new(&path)
        .parent()
        .filter(|_| !path.is_empty())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            io::Error::other("PostgreSQL's initdb is not installed: run scripts/install-peers")
        })
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn id_of(user: &str) -> io::Result<u32> {
    let out = Command::new("id").args(["-u", user]).output()?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| io::Error::other(format!("no user {user}")))
}

fn chown_tree(dir: &Path, uid: u32) -> io::Result<()> {
    std::os::unix::fs::chown(dir, Some(uid), None)?;
    for e in fs::read_dir(dir)?.flatten() {
        std::os::unix::fs::chown(e.path(), Some(uid), None)?;
    }
    Ok(())
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
