//! `archgate build --ssh`: a real `ssh-agent` holding a key the test made,
//! reached from `RUN --mount=type=ssh` by a small static Go probe that
//! lists the agent's keys, signs with each, and tries to remove them
//! all. The probe's answers must be buildx 0.29's on the same
//! `docker-container` builder (listing and signing reach the agent; the
//! removal is refused by the read-only forwarding), the same on a
//! standalone buildkitd, and the agent must still hold the key afterwards.
//! With private key files (`--ssh ID=KEY,KEY...`) BuildKit serves Go's
//! in-process keyring itself, mutable for the session: the probe, run
//! twice, must see what it sees under buildx.

use crate::common;

use common::buildenv::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PROBE: &str = r#"package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
)

func ask(c net.Conn, msg []byte) []byte {
	l := make([]byte, 4)
	binary.BigEndian.PutUint32(l, uint32(len(msg)))
	if _, err := c.Write(append(l, msg...)); err != nil {
		fmt.Println("write:", err)
		os.Exit(1)
	}
	if _, err := io.ReadFull(c, l); err != nil {
		fmt.Println("read:", err)
		os.Exit(1)
	}
	b := make([]byte, binary.BigEndian.Uint32(l))
	if _, err := io.ReadFull(c, b); err != nil {
		fmt.Println("read:", err)
		os.Exit(1)
	}
	return b
}

func str(b []byte) ([]byte, []byte) {
	n := binary.BigEndian.Uint32(b)
	return b[4 : 4+n], b[4+n:]
}

func put(b []byte, s []byte) []byte {
	l := make([]byte, 4)
	binary.BigEndian.PutUint32(l, uint32(len(s)))
	return append(append(b, l...), s...)
}

func main() {
	c, err := net.Dial("unix", os.Getenv("SSH_AUTH_SOCK"))
	if err != nil {
		fmt.Println("dial:", err)
		os.Exit(1)
	}
	ids := ask(c, []byte{11})
	n := binary.BigEndian.Uint32(ids[1:])
	fmt.Printf("identities %d %d\n", ids[0], n)
	rest := ids[5:]
	var blobs [][]byte
	for i := uint32(0); i < n; i++ {
		var blob, comment []byte
		blob, rest = str(rest)
		comment, rest = str(rest)
		blobs = append(blobs, blob)
		fmt.Printf("key %s\n", comment)
	}
	// Each key signs with no flags, then asks for rsa-sha2-256 and -512.
	for _, blob := range blobs {
		fmt.Print("sign")
		for _, flag := range []byte{0, 2, 4} {
			req := put([]byte{13}, blob)
			req = put(req, []byte("archgate"))
			req = append(req, 0, 0, 0, flag)
			r := ask(c, req)
			if r[0] == 14 {
				// The signature's format names the algorithm used.
				sig, _ := str(r[1:])
				format, _ := str(sig)
				fmt.Printf(" 14/%s", format)
			} else {
				fmt.Printf(" %d", r[0])
			}
		}
		fmt.Println()
	}
	fmt.Printf("remove-all-v1 %d\n", ask(c, []byte{9})[0])
	fmt.Printf("extension %d\n", ask(c, put([]byte{27}, []byte("query")))[0])
	fmt.Printf("remove-all %d\n", ask(c, []byte{19})[0])
	fmt.Printf("lock %d\n", ask(c, put([]byte{22}, []byte("pw")))[0])
}
"#;

/// An `ssh-agent` on a socket of its own, holding one new ed25519 key;
/// killed when dropped.
struct Agent {
    child: Child,
    sock: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Agent {
    fn start(dir: &Path) -> Agent {
        let key = dir.join("id_ed25519");
        run_ok(
            Command::new("ssh-keygen")
                .args([
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "archgate-test-key",
                    "-f",
                ])
                .arg(&key),
            "ssh-keygen",
        );
        let sock = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent");
        let agent = Agent { child, sock };
        let t0 = Instant::now();
        while !agent.sock.exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "ssh-agent did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        run_ok(
            Command::new("ssh-add")
                .arg("-q")
                .arg(&key)
                .env("SSH_AUTH_SOCK", &agent.sock),
            "ssh-add",
        );
        agent
    }

    fn keys(&self) -> String {
        let out = Command::new("ssh-add")
            .arg("-l")
            .env("SSH_AUTH_SOCK", &self.sock)
            .output()
            .expect("ssh-add -l");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn ssh_context(dir: &Path) -> Context {
    let ctx = Context::new();
    ctx.copy("probe", &common::go_build(dir, PROBE, "probe", Some("amd64"))).dockerfile(&format!(
        "FROM {}\nCOPY probe /probe\nRUN --network=none --mount=type=ssh,required=true /probe > /answer\nFROM scratch\nCOPY --from=0 /answer /answer\n",
        base_images().amd64
    ));
    ctx
}

const WANT: &str = "identities 12 1\nkey archgate-test-key\nsign 14/ssh-ed25519 14/ssh-ed25519 14/ssh-ed25519\nremove-all-v1 6\nextension 28\nremove-all 5\nlock 5\n";

#[test]
fn run_mount_ssh_reaches_a_read_only_agent_as_with_buildx() {
    let tmp = common::tmp();
    let agent = Agent::start(tmp.path());
    let ctx = ssh_context(tmp.path());

    // buildx on the docker-container builder: the oracle.
    let bx_dest = tmp.path().join("bx");
    run_ok(
        buildx_build(&[
            "--platform",
            "linux/amd64",
            "--no-cache",
            "--ssh",
            "default",
        ])
        .arg("-o")
        .arg(format!("type=local,dest={}", bx_dest.display()))
        .arg(ctx.path())
        .env("SSH_AUTH_SOCK", &agent.sock),
        "buildx",
    );
    let want = std::fs::read_to_string(bx_dest.join("answer")).unwrap();
    assert_eq!(want, WANT, "buildx's answers");

    for (kind, spec) in [
        (BuilderKind::BuildxContainer, "default".to_string()),
        (
            BuilderKind::BuildkitdUnix,
            format!("default={}", agent.sock.display()),
        ),
    ] {
        let dest = tmp.path().join(format!("ag-{}", kind.name()));
        let run = kind
            .build()
            .platform("linux/amd64")
            .args(&["--no-cache", "--ssh", &spec])
            .local_dest(&dest)
            .env("SSH_AUTH_SOCK", &agent.sock)
            .run(&ctx.arg());
        run.expect_code(0);
        assert_eq!(
            std::fs::read_to_string(dest.join("answer")).unwrap_or_default(),
            want,
            "{kind:?}\n{run}"
        );
    }
    assert!(
        agent.keys().contains("archgate-test-key"),
        "the agent lost its key: {}",
        agent.keys()
    );
}

#[test]
fn ssh_values_are_checked_before_the_builder_is_asked() {
    let tmp = common::tmp();
    let ctx = Context::new();
    ctx.dockerfile("FROM scratch\n");
    let key = tmp.path().join("id_ed25519");
    std::fs::write(&key, "a key file").unwrap();
    let encrypted = tmp.path().join("id_encrypted");
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "secret", "-f"])
            .arg(&encrypted),
        "ssh-keygen",
    );
    let unreachable = format!("unix://{}", tmp.path().join("no.sock").display());
    for (spec, env_sock, needle) in [
        ("default", None, "SSH_AUTH_SOCK is not set"),
        (
            "work=/nonexistent/agent.sock",
            None,
            "/nonexistent/agent.sock",
        ),
        (
            &format!("k={}", key.display()) as &str,
            None,
            "not a private key file",
        ),
        (
            &format!("k={}", encrypted.display()) as &str,
            None,
            "passphrase protected",
        ),
        (
            &format!("k={},{}", key.display(), tmp.path().display()) as &str,
            None,
            "not a private key file",
        ),
        (
            &format!("k={}", tmp.path().display()) as &str,
            None,
            "Is a directory",
        ),
        ("default,x", Some("/nonexistent"), "/nonexistent"),
    ] {
        let mut b = build(&unreachable).args(&["--ssh", spec]);
        b = match env_sock {
            Some(s) => b.env("SSH_AUTH_SOCK", s),
            None => b.env("SSH_AUTH_SOCK", ""),
        };
        let run = b.run(&ctx.arg());
        run.expect_code(2);
        let lines: Vec<_> = run.stderr.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 1, "{run}");
        assert!(
            lines[0].contains("--ssh") && lines[0].contains(needle),
            "{run}"
        );
        assert!(
            !run.stderr.contains("no.sock"),
            "the builder was asked\n{run}"
        );
    }
}

/// A new unencrypted key file of this type and size, made by `ssh-keygen`
/// in this format (`RFC4716` is OpenSSH's own, `PEM` SEC1 or PKCS#1).
fn keygen(dir: &Path, kind: &str, bits: &str, format: &str) -> PathBuf {
    let key = dir.join(format!("id_{kind}_{bits}_{format}"));
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-b", bits, "-m", format])
            .args(["-N", "", "-C", "file-key", "-f"])
            .arg(&key),
        "ssh-keygen",
    );
    key
}

const WANT_KEYS: &str = "identities 12 5\nkey \nkey \nkey \nkey \nkey \nsign 14/ssh-rsa 14/rsa-sha2-256 14/rsa-sha2-512\nsign 14/ssh-ed25519 5 5\nsign 14/ecdsa-sha2-nistp256 5 5\nsign 14/ecdsa-sha2-nistp521 5 5\nsign 14/ecdsa-sha2-nistp384 5 5\nremove-all-v1 6\nextension 5\nremove-all 6\nlock 6\nidentities 12 0\nremove-all-v1 6\nextension 5\nremove-all 5\nlock 5\n";

#[test]
fn run_mount_ssh_with_key_files_answers_as_buildkits_keyring() {
    let tmp = common::tmp();
    // Each key signs without flags (RSA: ssh-rsa, SHA-1, as Go's keyring
    // does) and with the RSA SHA-2 flags (which only RSA keys take).
    let keys: Vec<PathBuf> = [
        ("rsa", "3072", "RFC4716"),
        ("ed25519", "256", "RFC4716"),
        ("ecdsa", "256", "RFC4716"),
        ("ecdsa", "521", "RFC4716"),
        ("ecdsa", "384", "PEM"),
    ]
    .iter()
    .map(|(k, bits, format)| keygen(tmp.path(), k, bits, format))
    .collect();
    let spec = format!(
        "default={}",
        keys.iter()
            .map(|k| k.display().to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let ctx = Context::new();
    ctx.copy(
        "probe",
        &common::go_build(tmp.path(), PROBE, "probe", Some("amd64")),
    )
    .dockerfile(&format!(
        "FROM {}\nCOPY probe /probe\nRUN --network=none --mount=type=ssh,required=true /probe > /answer\nRUN --network=none --mount=type=ssh,required=true /probe >> /answer\nFROM scratch\nCOPY --from=0 /answer /answer\n",
        base_images().amd64
    ));

    let e = env();
    let bx_dest = tmp.path().join("bx");
    let out = e
        .docker28()
        .args([
            "buildx",
            "build",
            "--builder",
            e.get("ARCHGATE_BUILDX_BUILDER"),
            "--platform",
            "linux/amd64",
            "--no-cache",
            "--ssh",
            &spec,
            "-o",
        ])
        .arg(format!("type=local,dest={}", bx_dest.display()))
        .arg(ctx.path())
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .output()
        .expect("docker buildx build");
    assert!(
        out.status.success(),
        "buildx: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = std::fs::read_to_string(bx_dest.join("answer")).unwrap();
    assert_eq!(want, WANT_KEYS, "buildx's answers");

    for kind in [BuilderKind::BuildxContainer, BuilderKind::BuildkitdUnix] {
        let dest = tmp.path().join(format!("ag-{}", kind.name()));
        let run = kind
            .build()
            .args(&[
                "--platform",
                "linux/amd64",
                "--no-cache",
                "--ssh",
                &spec,
                "-o",
                &format!("type=local,dest={}", dest.display()),
            ])
            .env("SSH_AUTH_SOCK", "")
            .run(&ctx.arg());
        run.expect_code(0);
        assert_eq!(
            std::fs::read_to_string(dest.join("answer")).unwrap_or_default(),
            want,
            "{kind:?}\n{run}"
        );
    }
    // The key files are only read.
    for k in &keys {
        assert!(std::fs::read_to_string(k)
            .unwrap()
            .contains(" PRIVATE KEY-----"));
    }
}
