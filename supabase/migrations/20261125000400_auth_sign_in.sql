-- Sign-in for the auth service: sessions (refresh-token families), one-time reset tokens, email
-- verification, Google linking, and the check every service makes that a session still stands.
--
-- Pattern for server-side operations that need more than the service role's table rights:
-- the privileged work is a `security definer` function in `private` (not served by the Data
-- API); a `security invoker` function of the same name in `public` makes it reachable as
-- /rpc/<name>, executable by exactly the roles its comment names. None of these tables is
-- readable or writable by anon or authenticated.

-- refresh_tokens -------------------------------------------------------------------------------

create table public.refresh_tokens (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.users (id) on delete cascade,
  -- The session: every token descends from one sign-in, access tokens name it in their
  -- `session_id` claim, and reuse of a rotated token revokes the whole family.
  family_id uuid not null,
  token_hash text not null,
  expires_at timestamptz not null,
  rotated_at timestamptz,
  -- The token this one was rotated into, so a retry within the reuse interval gets it again.
  successor_id uuid references public.refresh_tokens (id) on delete set null,
  revoked_at timestamptz,
  created_at timestamptz not null default now(),
  constraint refresh_tokens_token_hash_key unique (token_hash)
);
comment on table public.refresh_tokens is
  'Owner: auth service. Opaque refresh tokens, stored as SHA-256 hashes, rotated on every use; a family '
  '(family_id) is one sign-in session. Tenancy: none for clients; only the service role reads or writes them.';

create index refresh_tokens_user_id_idx on public.refresh_tokens (user_id);
create index refresh_tokens_family_id_idx on public.refresh_tokens (family_id);
create index refresh_tokens_successor_id_idx on public.refresh_tokens (successor_id);

alter table public.refresh_tokens enable row level security;
revoke all on public.refresh_tokens from anon, authenticated, service_role;
grant select, insert, update, delete on public.refresh_tokens to service_role;

-- password_reset_tokens ------------------------------------------------------------------------

create table public.password_reset_tokens (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.users (id) on delete cascade,
  token_hash text not null,
  expires_at timestamptz not null,
  used_at timestamptz,
  created_at timestamptz not null default now(),
  constraint password_reset_tokens_token_hash_key unique (token_hash)
);
comment on table public.password_reset_tokens is
  'Owner: auth service. One-time password reset tokens, stored as SHA-256 hashes; any change of the '
  'user''s password spends every unused one. Tenancy: none for clients; only the service role reads or '
  'writes them.';

create index password_reset_tokens_user_id_idx on public.password_reset_tokens (user_id);

alter table public.password_reset_tokens enable row level security;
revoke all on public.password_reset_tokens from anon, authenticated, service_role;
grant select, insert, update, delete on public.password_reset_tokens to service_role;

-- A reset link mailed before a password change must not undo it: whoever changes the password
-- (a reset, a Google link removing it, the service role) voids every link still unused.
create function private.void_password_reset_tokens() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  update public.password_reset_tokens as reset set used_at = now()
    where reset.user_id = new.id and reset.used_at is null;
  return null;
end
$$;
comment on function private.void_password_reset_tokens() is
  'Owner: auth. Called by: the users_password_change_voids_reset_tokens trigger (as the role that '
  'changed the password).';
revoke execute on function private.void_password_reset_tokens() from public;

create trigger users_password_change_voids_reset_tokens
  after update of password_hash on public.users
  for each row when (old.password_hash is distinct from new.password_hash)
  execute function private.void_password_reset_tokens();

-- Email verification ---------------------------------------------------------------------------

-- Mark the user with this unexpired verification token verified, clear the token and grant the
-- signup bonus (once). Returns the user, or no row for an unknown or expired token.
create function private.verify_email(p_token_hash text)
returns table (user_id uuid, diamonds integer)
language plpgsql security definer
set search_path = ''
as $$
declare
  verified uuid;
begin
  update public.users as account
    set email_verified = true, verification_token_hash = null, verification_expires_at = null
    where account.verification_token_hash = p_token_hash and account.verification_expires_at > now()
    returning account.id into verified;
  if verified is null then
    return;
  end if;
  return query select verified, private.grant_signup_bonus(verified);
end
$$;
comment on function private.verify_email(text) is
  'Owner: auth. Called by: public.verify_email (as service_role).';
revoke execute on function private.verify_email(text) from public;
grant execute on function private.verify_email(text) to service_role;

create function public.verify_email(p_token_hash text)
returns table (user_id uuid, diamonds integer)
language sql security invoker
set search_path = ''
as $$ select * from private.verify_email(p_token_hash) $$;
comment on function public.verify_email(text) is
  'Owner: auth. Called by: auth''s email verification link (as service_role).';
revoke execute on function public.verify_email(text) from public, anon, authenticated;
grant execute on function public.verify_email(text) to service_role;

-- Refresh token rotation -----------------------------------------------------------------------

-- Exchange a refresh token for its successor, atomically, under the presented token's row lock.
-- Outcomes:
--   'rotated'  the successor (token_hash p_new_token_hash, expiring at p_expires_at) is stored;
--              or the token was rotated less than p_reuse_interval_s seconds ago into exactly
--              this successor, which still stands unrotated: the same answer again, nothing written (two
--              tabs refreshing at once, since the service derives the successor from the token);
--   'reused'   any other use of a rotated token: the whole family is revoked, as a stolen
--              token's replay looks exactly like this (the revocation commits although the
--              exchange fails);
--   'revoked', 'expired', 'disabled' (the user is disabled), 'unknown'.
-- expires_at is the successor's expiry for 'rotated', null otherwise.
create function private.rotate_refresh_token(
  p_token_hash text, p_new_token_hash text, p_expires_at timestamptz, p_reuse_interval_s integer
) returns table (outcome text, user_id uuid, family_id uuid, expires_at timestamptz)
language plpgsql security definer
set search_path = ''
as $$
declare
  presented public.refresh_tokens;
  successor public.refresh_tokens;
  reuse_interval interval := make_interval(secs => greatest(coalesce(p_reuse_interval_s, 0), 0));
  user_disabled boolean;
begin
  select * into presented from public.refresh_tokens as token
    where token.token_hash = p_token_hash for update;
  if not found then
    return query select 'unknown'::text, null::uuid, null::uuid, null::timestamptz;
    return;
  end if;
  select account.disabled_at is not null into user_disabled
    from public.users as account where account.id = presented.user_id;
  if presented.rotated_at is not null then
    select * into successor from public.refresh_tokens as token
      where token.id = presented.successor_id
        and token.token_hash = p_new_token_hash
        and token.rotated_at is null
        and token.revoked_at is null
        and token.expires_at > now();
    if found and presented.rotated_at > now() - reuse_interval then
      if user_disabled then
        return query select 'disabled'::text, presented.user_id, presented.family_id, null::timestamptz;
        return;
      end if;
      return query select 'rotated'::text, successor.user_id, successor.family_id, successor.expires_at;
      return;
    end if;
    update public.refresh_tokens as token set revoked_at = now()
      where token.family_id = presented.family_id and token.revoked_at is null;
    return query select 'reused'::text, presented.user_id, presented.family_id, null::timestamptz;
    return;
  end if;
  if presented.revoked_at is not null then
    return query select 'revoked'::text, presented.user_id, presented.family_id, null::timestamptz;
    return;
  end if;
  if presented.expires_at <= now() then
    return query select 'expired'::text, presented.user_id, presented.family_id, null::timestamptz;
    return;
  end if;
  if user_disabled then
    return query select 'disabled'::text, presented.user_id, presented.family_id, null::timestamptz;
    return;
  end if;
  insert into public.refresh_tokens as token (user_id, family_id, token_hash, expires_at)
    values (presented.user_id, presented.family_id, p_new_token_hash, p_expires_at)
    returning * into successor;
  update public.refresh_tokens as token set rotated_at = now(), successor_id = successor.id
    where token.id = presented.id;
  return query select 'rotated'::text, successor.user_id, successor.family_id, successor.expires_at;
end
$$;
comment on function private.rotate_refresh_token(text, text, timestamptz, integer) is
  'Owner: auth. Called by: public.rotate_refresh_token (as service_role).';
revoke execute on function private.rotate_refresh_token(text, text, timestamptz, integer) from public;
grant execute on function private.rotate_refresh_token(text, text, timestamptz, integer) to service_role;

create function public.rotate_refresh_token(
  p_token_hash text, p_new_token_hash text, p_expires_at timestamptz, p_reuse_interval_s integer default 10
) returns table (outcome text, user_id uuid, family_id uuid, expires_at timestamptz)
language sql security invoker
set search_path = ''
as $$
  select * from private.rotate_refresh_token(p_token_hash, p_new_token_hash, p_expires_at, p_reuse_interval_s)
$$;
comment on function public.rotate_refresh_token(text, text, timestamptz, integer) is
  'Owner: auth. Called by: auth''s token refresh (as service_role).';
revoke execute on function public.rotate_refresh_token(text, text, timestamptz, integer)
  from public, anon, authenticated;
grant execute on function public.rotate_refresh_token(text, text, timestamptz, integer) to service_role;

-- Password reset -------------------------------------------------------------------------------

-- Spend an unexpired, unused reset token: set the new password hash (which voids the user's other
-- reset tokens, by trigger) and revoke every refresh token of the user. Returns the user, or no row.
create function private.reset_password(p_token_hash text, p_password_hash text)
returns table (user_id uuid)
language plpgsql security definer
set search_path = ''
as $$
declare
  owner uuid;
begin
  update public.password_reset_tokens as reset set used_at = now()
    where reset.token_hash = p_token_hash and reset.used_at is null and reset.expires_at > now()
    returning reset.user_id into owner;
  if owner is null then
    return;
  end if;
  update public.users as account set password_hash = p_password_hash where account.id = owner;
  update public.refresh_tokens as token set revoked_at = now()
    where token.user_id = owner and token.revoked_at is null;
  return query select owner;
end
$$;
comment on function private.reset_password(text, text) is
  'Owner: auth. Called by: public.reset_password (as service_role).';
revoke execute on function private.reset_password(text, text) from public;
grant execute on function private.reset_password(text, text) to service_role;

create function public.reset_password(p_token_hash text, p_password_hash text)
returns table (user_id uuid)
language sql security invoker
set search_path = ''
as $$ select * from private.reset_password(p_token_hash, p_password_hash) $$;
comment on function public.reset_password(text, text) is
  'Owner: auth. Called by: auth''s password reset (as service_role).';
revoke execute on function public.reset_password(text, text) from public, anon, authenticated;
grant execute on function public.reset_password(text, text) to service_role;

-- Linking a Google account ---------------------------------------------------------------------

-- Link a Google identity to a user and mark the email verified (Google vouches for it). Unless
-- p_keep_password (the user proved the password in this same flow), an existing password goes
-- and every session of the user ends: someone who registered the address before its owner
-- signed in with Google must not keep a way in. Returns whether a password was removed, or no
-- row for an unknown user. A google_id linked to another user fails with 23505.
create function private.link_google_account(p_user_id uuid, p_google_id text, p_keep_password boolean)
returns table (password_removed boolean)
language plpgsql security definer
set search_path = ''
as $$
declare
  had_password boolean;
  removing boolean;
begin
  select account.password_hash is not null into had_password
    from public.users as account where account.id = p_user_id for update;
  if not found then
    return;
  end if;
  removing := had_password and not coalesce(p_keep_password, false);
  update public.users as account
    set google_id = p_google_id,
        email_verified = true,
        verification_token_hash = null,
        verification_expires_at = null,
        password_hash = case when removing then null else account.password_hash end
    where account.id = p_user_id;
  if removing then
    update public.refresh_tokens as token set revoked_at = now()
      where token.user_id = p_user_id and token.revoked_at is null;
  end if;
  return query select removing;
end
$$;
comment on function private.link_google_account(uuid, text, boolean) is
  'Owner: auth. Called by: public.link_google_account (as service_role).';
revoke execute on function private.link_google_account(uuid, text, boolean) from public;
grant execute on function private.link_google_account(uuid, text, boolean) to service_role;

create function public.link_google_account(p_user_id uuid, p_google_id text, p_keep_password boolean)
returns table (password_removed boolean)
language sql security invoker
set search_path = ''
as $$ select * from private.link_google_account(p_user_id, p_google_id, p_keep_password) $$;
comment on function public.link_google_account(uuid, text, boolean) is
  'Owner: auth. Called by: auth''s Google sign-in (as service_role).';
revoke execute on function public.link_google_account(uuid, text, boolean) from public, anon, authenticated;
grant execute on function public.link_google_account(uuid, text, boolean) to service_role;

-- Whether the signed-in caller's session still stands ------------------------------------------

-- True when the caller is a user (role authenticated) who exists, is not disabled, and, when the
-- token names its session (`session_id`), still holds a token of that session that is neither
-- revoked nor expired. A malformed `sub` or `session_id` is false, never an error. Two index
-- look-ups: users by id, refresh_tokens by family.
create function private.current_session_is_active() returns boolean
language plpgsql stable security definer
set search_path = ''
as $$
declare
  uuid_pattern constant text := '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
  claims constant jsonb := coalesce(auth.jwt(), '{}'::jsonb);
begin
  if auth.role() is distinct from 'authenticated'
     or jsonb_typeof(claims -> 'sub') is distinct from 'string'
     or claims ->> 'sub' !~* uuid_pattern then
    return false;
  end if;
  if not exists (
    select from public.users as account
    where account.id = (claims ->> 'sub')::uuid and account.disabled_at is null
  ) then
    return false;
  end if;
  if not claims ? 'session_id' then
    return true;
  end if;
  if jsonb_typeof(claims -> 'session_id') is distinct from 'string'
     or claims ->> 'session_id' !~* uuid_pattern then
    return false;
  end if;
  return exists (
    select from public.refresh_tokens as token
    where token.family_id = (claims ->> 'session_id')::uuid
      and token.user_id = (claims ->> 'sub')::uuid
      and token.revoked_at is null
      and token.expires_at > now()
  );
end
$$;
comment on function private.current_session_is_active() is
  'Owner: auth. Called by: public.current_session_is_active (as the user or service_role).';
revoke execute on function private.current_session_is_active() from public;
grant execute on function private.current_session_is_active() to authenticated, service_role;

create function public.current_session_is_active() returns boolean
language sql stable security invoker
set search_path = ''
as $$ select private.current_session_is_active() $$;
comment on function public.current_session_is_active() is
  'Owner: auth. Called by: every service (as the user) for each signed-in request.';
revoke execute on function public.current_session_is_active() from public, anon;
grant execute on function public.current_session_is_active() to authenticated, service_role;
