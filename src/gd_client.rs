//! Requests to a GD database server (the real one, a GDPS, or the emulator), shared by the
//! client library (sending and cleaning up the verification message) and the server's bot
//! (reading and emptying its inbox).

use crate::gd::{self, Caller, GdError, GdUser, MessagePage, UserInfo, UserList, endpoint};
use crate::http::Http;
use crate::protocol::join_url;
use std::time::Duration;

/// A GD database URL plus the transport to reach it, and who is asking (which decides
/// the version fields of the listing and deleting forms).
#[derive(Debug, Clone)]
pub struct GdClient {
    http: Http,
    database_url: String,
    caller: Caller,
    delete_batch: Option<usize>,
}

impl GdClient {
    /// A client for the server's bot. `database_url` is e.g.
    /// `https://www.boomlings.com/database`.
    pub fn new(http: Http, database_url: &str) -> Self {
        GdClient {
            http,
            database_url: database_url.trim_end_matches('/').to_string(),
            caller: Caller::Bot,
            delete_batch: None,
        }
    }

    /// A client for the player's own requests (the client library): every form carries
    /// `gameVersion` and `binaryVersion`, as the game's do.
    pub fn for_player(http: Http, database_url: &str) -> Self {
        GdClient {
            caller: Caller::Player,
            ..GdClient::new(http, database_url)
        }
    }

    /// Deletes at most `batch` ids per request, for GD servers that ignore the rest of a
    /// longer list (GMDprivateServer keeps 10, see [`gd::GDPS_DELETE_BATCH`]); `None`
    /// sends every id in one request, as real GD allows.
    pub fn with_delete_batch(self, batch: Option<usize>) -> Self {
        GdClient {
            delete_batch: batch.filter(|n| *n > 0),
            ..self
        }
    }

    /// The same client with every request ending within `timeout` (connect to last
    /// byte), for requests that must fit in what is left of a deadline.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        GdClient {
            http: Http::new(timeout),
            ..self
        }
    }

    /// Who the requests are sent as.
    pub fn caller(&self) -> Caller {
        self.caller
    }

    /// The database URL requests go to.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    fn post(&self, endpoint: &str, form: &str) -> Result<String, GdError> {
        let url = join_url(&self.database_url, endpoint);
        let response = self
            .http
            .post_form(&url, form)
            .map_err(|e| GdError::Network(e.0))?;
        gd::check_response(response.status, &response.body).map(str::to_string)
    }

    /// Sends a private message from `account_id` (authenticated by `gjp2`). Only players
    /// send messages, so the form always carries the game's version fields.
    pub fn upload_message(
        &self,
        account_id: u32,
        gjp2: &str,
        to_account_id: u32,
        subject: &str,
        body: &str,
    ) -> Result<(), GdError> {
        let form = gd::upload_message_form(account_id, gjp2, to_account_id, subject, body);
        expect_one(&self.post(endpoint::UPLOAD_MESSAGE, &form)?)
    }

    /// Lists one page (from 0) of the inbox, or the outbox when `sent`.
    pub fn get_messages(
        &self,
        account_id: u32,
        gjp2: &str,
        page: u32,
        sent: bool,
    ) -> Result<MessagePage, GdError> {
        let form = gd::get_messages_form(self.caller, account_id, gjp2, page, sent);
        gd::parse_message_page(&self.post(endpoint::GET_MESSAGES, &form)?)
    }

    /// Deletes messages, all in one request unless [`Self::with_delete_batch`] set a
    /// smaller batch; `sender` deletes from the outbox.
    pub fn delete_messages(
        &self,
        account_id: u32,
        gjp2: &str,
        message_ids: &[u64],
        sender: bool,
    ) -> Result<(), GdError> {
        let batch = self.delete_batch.unwrap_or(message_ids.len()).max(1);
        for ids in message_ids.chunks(batch) {
            let form = gd::delete_messages_form(self.caller, account_id, gjp2, ids, sender);
            expect_one(&self.post(endpoint::DELETE_MESSAGES, &form)?)?;
        }
        Ok(())
    }
}

impl GdClient {
    /// The accounts `account_id` blocked (`getGJUserList20.php`, `type=1`).
    pub fn blocked_users(&self, account_id: u32, gjp2: &str) -> Result<Vec<GdUser>, GdError> {
        let form = gd::user_list_form(self.caller, account_id, gjp2, UserList::Blocked);
        gd::parse_user_list(&self.post(endpoint::GET_USER_LIST, &form)?)
    }

    /// The profile of `target` as `account_id` sees it (`getGJUserInfo20.php`): who may
    /// message it, and whether the two are friends.
    pub fn user_info(&self, account_id: u32, gjp2: &str, target: u32) -> Result<UserInfo, GdError> {
        let form = gd::user_info_form(self.caller, target, Some((account_id, gjp2)));
        gd::parse_user_info(&self.post(endpoint::GET_USER_INFO, &form)?)
    }
}

fn expect_one(text: &str) -> Result<(), GdError> {
    if text == "1" {
        Ok(())
    } else {
        Err(GdError::Malformed(format!(
            "expected 1, got {:?}",
            crate::protocol::truncate(text, 40)
        )))
    }
}
