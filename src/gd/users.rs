//! User objects: the block list (`getGJUserList20.php`) and one account's profile
//! (`getGJUserInfo20.php`), which the client library reads to find out why GD refused
//! its message (protocol.md section 6, "Diagnosis endpoints").
//!
//! Keys as the GD documentation project records them (github.com/Wyliemaster/gddocs,
//! `docs/resources/server/user.md` and `docs/endpoints/users/getGJUserInfo20.md`):
//! `1` username, `2` user id, `16` account id, `18` who may message the account
//! (0 all, 1 friends only, 2 none), `31` the caller's friendship with it (1 = friends)
//! when the request carries the caller's credentials.

use super::{Caller, GdError, SECRET, caller_form, to_u32};
use std::collections::HashMap;

/// Who may send an account private messages: `mS` of `updateGJAccSettings20.php` and key
/// 18 of a user object (0 all, 1 friends only, 2 none; gd.py's `MessageState` and the GD
/// documentation project agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageSetting {
    /// Everyone.
    #[default]
    All,
    /// Only the account's friends.
    FriendsOnly,
    /// Nobody.
    None,
}

impl MessageSetting {
    /// Parses the field's value (`0`, `1`, `2`).
    pub fn from_field(value: &str) -> Option<Self> {
        match value.trim() {
            "0" => Some(MessageSetting::All),
            "1" => Some(MessageSetting::FriendsOnly),
            "2" => Some(MessageSetting::None),
            _ => None,
        }
    }

    /// The field's value.
    pub fn field(self) -> &'static str {
        match self {
            MessageSetting::All => "0",
            MessageSetting::FriendsOnly => "1",
            MessageSetting::None => "2",
        }
    }
}

/// One user of a user list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GdUser {
    /// Key 1.
    pub username: String,
    /// Key 2.
    pub user_id: u32,
    /// Key 16.
    pub account_id: u32,
}

/// The part of a `getGJUserInfo20.php` answer the diagnosis reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// Keys 1, 2 and 16.
    pub user: GdUser,
    /// Key 18.
    pub messages: MessageSetting,
    /// Key 31 is 1: the caller and this account are friends.
    pub is_friend: bool,
}

impl UserInfo {
    /// Whether the caller may send this account a message, as far as its setting goes.
    pub fn accepts_messages_from_caller(&self) -> bool {
        match self.messages {
            MessageSetting::All => true,
            MessageSetting::FriendsOnly => self.is_friend,
            MessageSetting::None => false,
        }
    }
}

/// The two lists of `getGJUserList20.php`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserList {
    /// `type=0`.
    Friends,
    /// `type=1`.
    Blocked,
}

/// Form fields of `getGJUserList20.php`.
pub fn user_list_form(caller: Caller, account_id: u32, gjp2: &str, list: UserList) -> String {
    let kind = match list {
        UserList::Friends => "0",
        UserList::Blocked => "1",
    };
    caller_form(
        caller,
        &[
            ("accountID", account_id.to_string()),
            ("gjp2", gjp2.to_string()),
            ("secret", SECRET.to_string()),
            ("type", kind.to_string()),
        ],
    )
}

/// Form fields of `getGJUserInfo20.php` for `target`, asked as `viewer` (account and
/// gjp2) when given, which makes GD fill in the friendship (key 31) as the game does
/// when it shows a profile.
pub fn user_info_form(caller: Caller, target: u32, viewer: Option<(u32, &str)>) -> String {
    let mut fields = vec![("targetAccountID", target.to_string())];
    if let Some((account_id, gjp2)) = viewer {
        fields.push(("accountID", account_id.to_string()));
        fields.push(("gjp2", gjp2.to_string()));
    }
    fields.push(("secret", SECRET.to_string()));
    caller_form(caller, &fields)
}

/// The keys of one `key:value:key:value…` user object. GD leaves values empty (a
/// missing YouTube name) but never lets one contain `:`.
fn user_keys(text: &str) -> Result<HashMap<&str, &str>, GdError> {
    let parts: Vec<&str> = text.trim().split(':').collect();
    if !parts.len().is_multiple_of(2) {
        return Err(GdError::Malformed("odd number of key/value parts".into()));
    }
    Ok(parts.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect())
}

fn number(keys: &HashMap<&str, &str>, key: &str) -> Result<u32, GdError> {
    let value = keys
        .get(key)
        .ok_or_else(|| GdError::Malformed(format!("user without key {key}")))?;
    let n = value
        .trim()
        .parse::<u64>()
        .map_err(|_| GdError::Malformed(format!("key {key}: {value:?} is not a number")))?;
    to_u32(n)
}

fn parse_user(keys: &HashMap<&str, &str>) -> Result<GdUser, GdError> {
    Ok(GdUser {
        username: keys.get("1").copied().unwrap_or_default().to_string(),
        user_id: number(keys, "2")?,
        account_id: number(keys, "16")?,
    })
}

/// Parses a `getGJUserList20.php` answer (already through
/// [`check_response`](super::check_response)); `-2` is an empty list.
pub fn parse_user_list(text: &str) -> Result<Vec<GdUser>, GdError> {
    let text = text.trim();
    if text == "-2" {
        return Ok(Vec::new());
    }
    text.split('|')
        .filter(|u| !u.is_empty())
        .map(|u| parse_user(&user_keys(u)?))
        .collect()
}

/// Parses a `getGJUserInfo20.php` answer (already through
/// [`check_response`](super::check_response)). An answer without key 18 is malformed:
/// without it the answer says nothing about messages.
pub fn parse_user_info(text: &str) -> Result<UserInfo, GdError> {
    let keys = user_keys(text)?;
    let messages = keys
        .get("18")
        .and_then(|v| MessageSetting::from_field(v))
        .ok_or_else(|| GdError::Malformed("user info without a message setting (key 18)".into()))?;
    Ok(UserInfo {
        user: parse_user(&keys)?,
        messages,
        is_friend: keys.get("31").is_some_and(|v| v.trim() == "1"),
    })
}

/// Formats a user object with the keys the emulator knows (the emulator's side of
/// [`parse_user_list`] and [`parse_user_info`]); GD's other keys are zero.
pub fn format_user(user: &GdUser, messages: MessageSetting, is_friend: bool) -> String {
    format!(
        "1:{}:2:{}:9:1:10:0:11:0:14:0:15:0:16:{}:18:{}:31:{}:41:",
        user.username,
        user.user_id,
        user.account_id,
        messages.field(),
        u8::from(is_friend)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_lists_parse_with_gd_keys_and_minus_two_is_empty() {
        let list = "1:Alice:2:100001:9:1:16:7801:41:1|1:Bob:2:100002:16:7802:20:";
        let users = parse_user_list(list).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            users.iter().map(|u| u.account_id).collect::<Vec<_>>(),
            [7801, 7802]
        );
        assert_eq!(users[1].username, "Bob");
        assert_eq!(users[0].user_id, 100_001);
        assert_eq!(parse_user_list("-2"), Ok(Vec::new()));
        assert!(parse_user_list("1:Alice:2:1").is_err(), "no account id");
        assert!(parse_user_list("garbage").is_err());
    }

    #[test]
    fn user_info_reads_the_message_setting_and_friendship() {
        // The shape of the GD documentation project's example answer, shortened.
        let info = parse_user_info(
            "1:meluwudy:2:3935672:13:148:17:1068:18:1:19:0:50:0:20:UCZo:16:173831:31:0:44:x",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.user.account_id, 173_831);
        assert_eq!(info.messages, MessageSetting::FriendsOnly);
        assert!(!info.accepts_messages_from_caller());
        let friend = UserInfo {
            is_friend: true,
            ..info.clone()
        };
        assert!(friend.accepts_messages_from_caller());
        let user = GdUser {
            username: "Bot".into(),
            user_id: 5,
            account_id: 9,
        };
        let formatted = format_user(&user, MessageSetting::None, false);
        let parsed = parse_user_info(&formatted).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.user, user);
        assert_eq!(parsed.messages, MessageSetting::None);
        assert!(parse_user_info("1:Bot:2:5:16:9").is_err(), "no key 18");
        assert!(parse_user_info("1:Bot:2:5:16:9:18:7").is_err());
    }

    #[test]
    fn user_forms_carry_what_gd_reads() {
        assert_eq!(
            user_list_form(Caller::Player, 42, "g", UserList::Blocked),
            "accountID=42&gjp2=g&secret=Wmfd2893gb7&type=1&gameVersion=22&binaryVersion=45"
        );
        assert_eq!(
            user_info_form(Caller::Player, 7, Some((42, "g"))),
            "targetAccountID=7&accountID=42&gjp2=g&secret=Wmfd2893gb7&gameVersion=22&binaryVersion=45"
        );
        assert_eq!(
            user_info_form(Caller::Bot, 7, None),
            "targetAccountID=7&secret=Wmfd2893gb7"
        );
    }
}
