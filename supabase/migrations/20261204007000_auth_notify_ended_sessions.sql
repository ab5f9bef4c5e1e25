-- Services on the direct data plane remember, for a few seconds, that a session was live, so a
-- signed-in request need not ask `current_session_is_active()` each time. What can end a session
-- says so at once: every change that may turn the answer false notifies the channel
-- `session_changes` with the user's id, and each service forgets that user's sessions on it.
-- (A session that simply reaches its expiry is forgotten when the memory's time runs out.)
-- A notification only ever makes a service ask the database again, so a forged one is harmless.

create function private.notify_session_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  -- Postgres sends one notification per distinct payload per transaction, at commit.
  if tg_table_name = 'users' then
    perform pg_notify('session_changes', old.id::text);
  else
    perform pg_notify('session_changes', old.user_id::text);
  end if;
  return null;
end
$$;
comment on function private.notify_session_change() is
  'Owner: auth. Called by: the triggers users_notify_session_change and refresh_tokens_notify_session_change, when a user''s sessions may have ended.';
revoke execute on function private.notify_session_change() from public;

create trigger users_notify_session_change
  after update of disabled_at or delete on public.users
  for each row
  execute function private.notify_session_change();

create trigger refresh_tokens_notify_session_change
  after update of revoked_at, expires_at or delete on public.refresh_tokens
  for each row
  execute function private.notify_session_change();
