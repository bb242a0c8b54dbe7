//! Test a ZooKeeper recipe of your own with `zkstorm_sim::testing`: a lock
//! (ephemeral sequential children; each waits on the one before it) taken
//! in turn by three clients while the ensemble's leader crashes. The
//! client checks judge the recipe's calls; an invariant of our own (at
//! most one holder at a time, from the clients' notes) judges the lock.
//! A lock that does not wait for its predecessor fails that invariant.
//!
//! An example that is a test: `cargo test --example lock_recipe` (plain
//! `cargo test` runs it too). Seeds from `ZKSTORM_SEEDS`.

fn main() {
    eprintln!("this example is a test: cargo test --example lock_recipe");
}

#[cfg(all(test, madsim))]
mod tests {
    use std::time::Duration;
    use zkstorm::proto::{CreateMode, ErrorCode};
    use zkstorm::recipes::Lock;
    use zkstorm_sim::testing::{notes, one_at_a_time, Client, Events, World, Zk};

    const DIR: &str = "/lock";

    /// Our node under DIR: `<session>-<sequence>`. After a lost answer the
    /// create may have happened: look for ours (in a listing after a sync, as
    /// the server we now talk to may lag behind the one that applied it)
    /// before trying again. (A first version took a failed listing for "not
    /// there" and left a node of its own queued forever: the world below found
    /// it as a run whose clients never returned.)
    async fn enqueue(c: &Client) -> Result<String, ErrorCode> {
        let prefix = format!("{:x}-", c.session_id());
        loop {
            let path = format!("{DIR}/{prefix}");
            match c.create(&path, b"", CreateMode::EphemeralSequential).await {
                Ok(p) => return Ok(p.rsplit('/').next().unwrap_or_default().to_string()),
                Err(ErrorCode::ConnectionLoss) => {
                    if let Some(mine) = find_ours(c, &prefix).await? {
                        return Ok(mine);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Our node in a synced listing, retried while the connection is lost.
    async fn find_ours(c: &Client, prefix: &str) -> Result<Option<String>, ErrorCode> {
        loop {
            match c.sync().await {
                Err(ErrorCode::ConnectionLoss) => continue,
                other => other?,
            }
            match c.get_children(DIR, false).await {
                Err(ErrorCode::ConnectionLoss) => continue,
                kids => return Ok(kids?.into_iter().find(|k| k.starts_with(prefix))),
            }
        }
    }

    /// The sequence number ZooKeeper appended (the last ten digits).
    fn sequence(name: &str) -> &str {
        &name[name.len().saturating_sub(10)..]
    }

    /// Take the lock: wait until our node is the first. `fair`: wait for the
    /// node before ours to go; a broken lock does not.
    async fn lock(c: &Client, fair: bool) -> Result<String, ErrorCode> {
        let me = enqueue(c).await?;
        if !fair {
            return Ok(me);
        }
        loop {
            let mut kids = match c.get_children(DIR, false).await {
                Err(ErrorCode::ConnectionLoss) => continue,
                kids => kids?,
            };
            kids.sort_by(|a, b| sequence(a).cmp(sequence(b)));
            let at = kids
                .iter()
                .position(|k| *k == me)
                .ok_or(ErrorCode::NoNode)?;
            if at == 0 {
                break;
            }
            let before = format!("{DIR}/{}", kids[at - 1]);
            if kids[at - 1].starts_with(&format!("{:x}-", c.session_id())) {
                // Ours, from a create whose answer was lost: it goes.
                let _ = c.delete(&before, -1).await;
                continue;
            }
            if let Ok(Some(_)) = c.exists(&before, true).await {
                // Until that node goes, or anything else happens (a reconnect,
                // another watch): then look again.
                c.next_event().await.ok_or(ErrorCode::ConnectionLoss)?;
            }
        }
        Ok(me)
    }

    async fn unlock(c: &Client, me: &str) {
        let path = format!("{DIR}/{me}");
        while let Err(ErrorCode::ConnectionLoss) = c.delete(&path, -1).await {}
    }

    /// Three clients take the lock five times each, holding it 50 ms.
    fn world(fair: bool) -> World {
        let mut w = World::new(3)
            .duration(Duration::from_secs(10))
            .faults("[[fault]]\nat = \"1s\"\ncrash = \"leader\"\nuntil = \"4s\"")
            .invariant("one_holder", |r| one_at_a_time(r, "acquire", "release"))
            .invariant("every_round", |records| {
                let taken = notes(records)
                    .iter()
                    .filter(|(_, w)| *w == "acquire")
                    .count();
                (taken == 15)
                    .then_some(())
                    .ok_or(format!("{taken} of 15 rounds took the lock"))
            });
        for _ in 0..3 {
            w = w.client(move |c| async move {
                while let Err(ErrorCode::ConnectionLoss) =
                    c.create(DIR, b"", CreateMode::Persistent).await
                {}
                for _ in 0..5 {
                    let Ok(me) = lock(&c, fair).await else { break };
                    c.note("acquire");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    c.note("release");
                    unlock(&c, &me).await;
                }
                c.close().await;
            });
        }
        w
    }

    #[test]
    fn a_fair_lock_holds_one_client_at_a_time_across_a_leader_crash() {
        world(true).check(0..3);
    }

    #[test]
    fn a_lock_that_does_not_wait_for_its_predecessor_is_caught() {
        let caught = (0..3).any(|seed| {
            let r = world(false).run(seed);
            matches!(r.verdict("user.one_holder"), Some(v) if !v.is_pass())
        });
        assert!(caught, "the broken lock passed one_holder on every seed");
    }

    // The README's test, as the README shows it: the library's lock.
    #[test]
    fn the_lock_holds_one_client_at_a_time() {
        let mut world = World::new(3)
            .faults("[[fault]]\nat = \"1s\"\ncrash = \"leader\"\nuntil = \"4s\"")
            .invariant("one_holder", |r| one_at_a_time(r, "acquire", "release"));
        for _ in 0..3 {
            world = world.client(|c| async move {
                let lock = Lock::new("/app/lock");
                if let Ok(held) = lock.acquire(&c).await {
                    c.note("acquire"); // your code holds the lock here
                    c.note("release");
                    let _ = lock.release(&c, held).await;
                }
                c.close().await;
            });
        }
        world.check(0..4); // seeds from ZKSTORM_SEEDS; a failure names its seed and replay
    }
}
