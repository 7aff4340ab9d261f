//! Message settings, block lists and profiles (protocol.md section 7): the conditions under which
//! real GD refuses a message with `-1`, so the client library's diagnosis can be tested
//! offline.
//!
//! Behaviour follows the GD documentation project (github.com/Wyliemaster/gddocs,
//! `docs/endpoints/socials/blockGJUser20.md`, `unblockGJUser20.md`, `getGJUserList20.md`,
//! `docs/endpoints/users/getGJUserInfo20.md`):
//! blocking and unblocking always answer `1`, whether the target exists or not; the user
//! list answers user objects separated by `|`, `-2` when empty.

use super::Form;
use super::world::{World, field, number};
use crate::gd::{self, GdUser, MessageSetting, SECRET};

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
    /// friend list, always empty here. Each user is a user object
    /// ([`gd::format_user`]).
    pub(super) fn user_list(&self, account: u32, form: &Form) -> Option<String> {
        let blocks = number::<u8>(form, "type").unwrap_or(0) == 1;
        let caller = self.accounts.get(&account)?;
        let mut ids: Vec<u32> = if blocks {
            caller.blocked.iter().copied().collect()
        } else {
            Vec::new()
        };
        ids.sort_unstable();
        let users: Vec<String> = ids.iter().filter_map(|id| self.user_object(*id)).collect();
        if users.is_empty() {
            return Some("-2".into());
        }
        Some(users.join("|"))
    }

    /// `getGJUserInfo20.php`: the profile of `targetAccountID` with its message setting
    /// (key 18). GD reads the caller's `accountID`/`gjp2` when sent (to fill in the
    /// friendship, key 31: never friends here) and serves the profile without them too,
    /// so they are checked only when present. As GMDprivateServer does
    /// (`incl/profiles/getGJUserInfo.php`), an account that blocked the caller, or that
    /// the caller blocked, is hidden behind `-1`, as is one that does not exist.
    pub(super) fn user_info(&mut self, form: &Form) -> Option<String> {
        if field(form, "secret") != Some(SECRET) {
            return None;
        }
        let viewer = match field(form, "accountID") {
            Some(_) => Some(self.authenticate(form)?),
            None => None,
        };
        let target: u32 = number(form, "targetAccountID")?;
        let shown = self.accounts.get(&target)?;
        if let Some(viewer) = viewer {
            let hidden = shown.blocked.contains(&viewer)
                || (self.accounts.get(&viewer)).is_some_and(|v| v.blocked.contains(&target));
            if hidden {
                return None;
            }
        }
        self.user_object(target)
    }

    /// An account as a GD user object.
    fn user_object(&self, account_id: u32) -> Option<String> {
        let account = self.accounts.get(&account_id)?;
        let user = GdUser {
            username: account.username.clone(),
            user_id: account.user_id,
            account_id,
        };
        Some(gd::format_user(&user, account.messages_from, false))
    }
}
