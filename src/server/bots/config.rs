//! Where the bot accounts come from (protocol.md section 3, "Several bot accounts"):
//! `--bot ID` with each gjp2 in `DASHAUTH_BOT_GJP2_<ID>`, or a file of `ID GJP2` lines
//! readable by its owner only. The command line calls these; they hold no flag parsing.

use std::fmt;
use std::path::Path;

/// One GD bot account the server reads.
#[derive(Clone, PartialEq, Eq)]
pub struct BotAccount {
    /// Its GD account id; clients send verification messages to it.
    pub account_id: u32,
    /// Its gjp2. Never logged.
    pub gjp2: String,
}

impl BotAccount {
    /// A bot account; refuses an id GD cannot have and an empty gjp2.
    pub fn new(account_id: u32, gjp2: &str) -> Result<Self, String> {
        crate::protocol::AccountId::new(account_id)
            .map_err(|e| format!("bot account id {account_id}: {e}"))?;
        let gjp2 = gjp2.trim();
        if gjp2.is_empty() || !gjp2.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "the gjp2 of bot {account_id} is empty or not visible ASCII"
            ));
        }
        Ok(BotAccount {
            account_id,
            gjp2: gjp2.to_string(),
        })
    }
}

impl fmt::Debug for BotAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotAccount")
            .field("account_id", &self.account_id)
            .field("gjp2", &"<redacted>")
            .finish()
    }
}

/// The environment variable holding the gjp2 of bot `account_id`.
pub fn gjp2_variable(account_id: u32) -> String {
    format!("DASHAUTH_BOT_GJP2_{account_id}")
}

/// The bots named by `ids` (as `--bot` gives them: one id, or several separated by
/// commas), each gjp2 read through `env` from [`gjp2_variable`].
pub fn from_ids(
    ids: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<BotAccount>, String> {
    let mut bots = Vec::new();
    for id in ids.iter().flat_map(|list| list.split(',')) {
        let id = id.trim();
        let account_id: u32 = id
            .parse()
            .map_err(|e| format!("--bot {id:?}: not an account id ({e})"))?;
        let variable = gjp2_variable(account_id);
        let gjp2 = env(&variable)
            .ok_or_else(|| format!("--bot {account_id}: set its gjp2 in {variable}"))?;
        bots.push(BotAccount::new(account_id, &gjp2)?);
    }
    Ok(bots)
}

/// The bots of a file of `ID GJP2` lines (blank lines and `#` comments allowed).
pub fn parse_bots_file(text: &str) -> Result<Vec<BotAccount>, String> {
    let mut bots = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(id), Some(gjp2), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("bots file line {}: expected `ID GJP2`", n + 1));
        };
        let id: u32 = id
            .parse()
            .map_err(|_| format!("bots file line {}: {id:?} is not an account id", n + 1))?;
        bots.push(BotAccount::new(id, gjp2)?);
    }
    Ok(bots)
}

/// Reads a bots file, refusing it unless only its owner can read or write it: it holds
/// the credentials of every bot account.
pub fn from_file(path: &Path) -> Result<Vec<BotAccount>, String> {
    let shown = path.display();
    let metadata =
        std::fs::metadata(path).map_err(|e| format!("bots file {shown}: cannot read it ({e})"))?;
    check_owner_only(&metadata, &shown.to_string())?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("bots file {shown}: cannot read it ({e})"))?;
    parse_bots_file(&text)
}

#[cfg(unix)]
fn check_owner_only(metadata: &std::fs::Metadata, shown: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "bots file {shown} is readable or writable by group or others (mode {mode:o}); \
             it holds the bots' gjp2s: run `chmod 600 {shown}`"
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner_only(_: &std::fs::Metadata, _: &str) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_take_their_gjp2_from_the_environment() {
        let env = |name: &str| (name == "DASHAUTH_BOT_GJP2_7").then(|| "seven".to_string());
        let bots = from_ids(&["7".into()], &env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bots, vec![BotAccount::new(7, "seven").expect("valid")]);
        let missing = from_ids(&["7,8".into()], &env);
        assert!(missing.is_err_and(|e| e.contains("DASHAUTH_BOT_GJP2_8")));
        assert!(from_ids(&["x".into()], &env).is_err());
        assert!(!format!("{bots:?}").contains("seven"), "gjp2 redacted");
    }

    #[test]
    fn bots_file_lines_are_id_and_gjp2() {
        let bots =
            parse_bots_file("# bots\n1 aaa\n\n  2   bbb  \n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bots.len(), 2);
        assert_eq!((bots[1].account_id, bots[1].gjp2.as_str()), (2, "bbb"));
        assert!(parse_bots_file("1").is_err());
        assert!(parse_bots_file("1 a b").is_err());
        assert!(parse_bots_file("0 a").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_bots_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("dashauth-bots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("bots");
        std::fs::write(&path, "5 abc\n").unwrap_or_else(|e| panic!("{e}"));
        let chmod = |mode| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode));
        chmod(0o644).unwrap_or_else(|e| panic!("{e}"));
        assert!(from_file(&path).is_err_and(|e| e.contains("chmod 600")));
        chmod(0o600).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(from_file(&path).map(|b| b.len()), Ok(1));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
