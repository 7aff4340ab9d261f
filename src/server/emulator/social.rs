//! Message settings and block lists (protocol.md section 7): the conditions under which
//! real GD refuses a message with `-1`, so the client library's diagnosis can be tested
//! offline.
//!
//! Behaviour follows the GD documentation project (github.com/Wyliemaster/gddocs,
//! `docs/endpoints/socials/blockGJUser20.md`, `unblockGJUser20.md`, `getGJUserList20.md`):
//! blocking and unblocking always answer `1`, whether the target exists or not; the user
//! list answers user objects separated by `|`, `-2` when empty.

use super::Form;
use super::world::{MessageSetting, World, field, number};

impl World {
    /// `updateGJAccSettings20.php`: only `mS` (who may message the account) matters here;
    /// the other settings (friend requests, comments, social links) are accepted and
    /// ignored. A missing or unknown `mS` answers `-1`.
    pub(super) fn update_settings(&mut self, account: u32, form: &Form) -> Option<String> {
        let setting = MessageSetting::from_field(field(form, "mS")?)?;
        self.accounts.get_mut(&account)?.messages_from = setting;
        Some("1".into())
    }

    /// `blockGJUser20.php`: puts `targetAccountID` on the caller's block list.
    pub(super) fn block(&mut self, account: u32, form: &Form) -> Option<String> {
        let target: u32 = number(form, "targetAccountID")?;
        if target != account {
            self.accounts.get_mut(&account)?.blocked.insert(target);
        }
        Some("1".into())
    }

    /// `unblockGJUser20.php`: takes `targetAccountID` off the caller's block list.
    pub(super) fn unblock(&mut self, account: u32, form: &Form) -> Option<String> {
        let target: u32 = number(form, "targetAccountID")?;
        self.accounts.get_mut(&account)?.blocked.remove(&target);
        Some("1".into())
    }

    /// `getGJUserList20.php`: `type=1` is the block list, `type=0` (the default) the
    /// friend list, always empty here. Each user is `1:username:2:user id:16:account id`
    /// among GD's other user keys, which the emulator leaves at zero.
    pub(super) fn user_list(&self, account: u32, form: &Form) -> Option<String> {
        let blocks = number::<u8>(form, "type").unwrap_or(0) == 1;
        let caller = self.accounts.get(&account)?;
        let mut ids: Vec<u32> = if blocks {
            caller.blocked.iter().copied().collect()
        } else {
            Vec::new()
        };
        ids.sort_unstable();
        let users: Vec<String> = ids
            .iter()
            .filter_map(|id| {
                let user = self.accounts.get(id)?;
                Some(format!(
                    "1:{}:2:{}:9:1:10:0:11:0:14:0:15:0:16:{id}:18:0:41:",
                    user.username, user.user_id
                ))
            })
            .collect();
        if users.is_empty() {
            return Some("-2".into());
        }
        Some(users.join("|"))
    }
}
