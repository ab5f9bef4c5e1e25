-- Accounts, sessions and mail for the auth service, and the ledger primitive billing owns.
--
-- Pattern for server-side operations that need more than the service role's table rights:
-- the privileged work is a `security definer` function in `private` (not served by the Data
-- API), executable only by `service_role`; a `security invoker` function of the same name in
-- `public` makes it reachable as /rpc/<name>. Nothing here is executable by anon or
-- authenticated, and none of these tables is readable by them.

-- users: disabling ----------------------------------------------------------------------------

alter table public.users add column disabled_at timestamptz;
grant update (disabled_at) on public.users to service_role;

-- refresh_tokens -------------------------------------------------------------------------------

create table public.refresh_tokens (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.users (id) on delete cascade,
  -- Every token descends from one login; reuse of a rotated token revokes the whole family.
  family_id uuid not null,
  token_hash text not null,
  expires_at timestamptz not null,
  rotated_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz not null default now(),
  constraint refresh_tokens_token_hash_key unique (token_hash)
);
comment on table public.refresh_tokens is
  'Owner: auth service. Opaque refresh tokens, stored as SHA-256 hashes, rotated on every use. '
  'Tenancy: none for clients; only the service role reads or writes them.';

create index refresh_tokens_user_id_idx on public.refresh_tokens (user_id);
create index refresh_tokens_family_id_idx on public.refresh_tokens (family_id);

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
  'Owner: auth service. One-time password reset tokens, stored as SHA-256 hashes. '
  'Tenancy: none for clients; only the service role reads or writes them.';

create index password_reset_tokens_user_id_idx on public.password_reset_tokens (user_id);

alter table public.password_reset_tokens enable row level security;
revoke all on public.password_reset_tokens from anon, authenticated, service_role;
grant select, insert, update, delete on public.password_reset_tokens to service_role;

-- email_outbox ---------------------------------------------------------------------------------

create table public.email_outbox (
  id uuid primary key default gen_random_uuid(),
  to_address text not null,
  subject text not null,
  body_text text not null,
  body_html text,
  status text not null default 'pending',
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_error text,
  sent_at timestamptz,
  created_at timestamptz not null default now(),
  constraint email_outbox_status_known check (status in ('pending', 'sent'))
);
comment on table public.email_outbox is
  'Owner: auth service. Mail waiting to be sent (Resend in production, the log locally); a failed '
  'send stays pending with a later next_attempt_at, so nothing is lost. '
  'Tenancy: none for clients; only the service role reads or writes it.';

create index email_outbox_pending_idx on public.email_outbox (next_attempt_at) where status = 'pending';

alter table public.email_outbox enable row level security;
revoke all on public.email_outbox from anon, authenticated, service_role;
grant select, insert, update, delete on public.email_outbox to service_role;

-- guest_claims ---------------------------------------------------------------------------------

create table public.guest_claims (
  session_id text primary key,
  user_id uuid not null references public.users (id) on delete cascade,
  claimed_at timestamptz not null default now()
);
comment on table public.guest_claims is
  'Owner: auth service. Which user claimed each guest session''s work; a session is claimed once. '
  'Tenancy: none for clients; only the service role reads it.';

create index guest_claims_user_id_idx on public.guest_claims (user_id);

alter table public.guest_claims enable row level security;
revoke all on public.guest_claims from anon, authenticated, service_role;
grant select on public.guest_claims to service_role;

-- The ledger primitive (billing) ---------------------------------------------------------------

-- Add `amount` diamonds (negative to take) to a user's balance and write the ledger row, in the
-- caller's transaction with the user's row locked. The same (user, type, idempotency key) twice
-- returns the first row and changes nothing. Only other definer functions call it.
create function private.credit(
  p_user_id uuid, p_amount integer, p_type text, p_description text, p_idempotency_key text
) returns public.transactions
language plpgsql security definer
set search_path = ''
as $$
declare
  balance integer;
  recorded public.transactions;
begin
  select diamonds into balance from public.users where id = p_user_id for update;
  if not found then
    raise exception 'no user %', p_user_id using errcode = 'P0002';
  end if;
  select * into recorded from public.transactions
    where user_id = p_user_id and type = p_type and idempotency_key = p_idempotency_key;
  if found then
    return recorded;
  end if;
  update public.users set diamonds = balance + p_amount where id = p_user_id;
  insert into public.transactions (user_id, type, amount, balance_after, description, idempotency_key)
    values (p_user_id, p_type, p_amount, balance + p_amount, p_description, p_idempotency_key)
    returning * into recorded;
  return recorded;
end
$$;
revoke execute on function private.credit(uuid, integer, text, text, text) from public;

-- Signup bonus ---------------------------------------------------------------------------------

-- 50 diamonds, once per user whatever calls it how often.
create function private.grant_signup_bonus(p_user_id uuid) returns integer
language sql security definer
set search_path = ''
as $$
  select (private.credit(p_user_id, 50, 'signup_bonus', 'Välkomstbonus', 'signup_bonus')).balance_after
$$;
revoke execute on function private.grant_signup_bonus(uuid) from public;
grant execute on function private.grant_signup_bonus(uuid) to service_role;

create function public.grant_signup_bonus(p_user_id uuid) returns integer
language sql security invoker
set search_path = ''
as $$ select private.grant_signup_bonus(p_user_id) $$;
revoke execute on function public.grant_signup_bonus(uuid) from public, anon, authenticated;
grant execute on function public.grant_signup_bonus(uuid) to service_role;

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
  update public.users
    set email_verified = true, verification_token_hash = null, verification_expires_at = null
    where verification_token_hash = p_token_hash and verification_expires_at > now()
    returning id into verified;
  if verified is null then
    return;
  end if;
  return query select verified, private.grant_signup_bonus(verified);
end
$$;
revoke execute on function private.verify_email(text) from public;
grant execute on function private.verify_email(text) to service_role;

create function public.verify_email(p_token_hash text)
returns table (user_id uuid, diamonds integer)
language sql security invoker
set search_path = ''
as $$ select * from private.verify_email(p_token_hash) $$;
revoke execute on function public.verify_email(text) from public, anon, authenticated;
grant execute on function public.verify_email(text) to service_role;

-- Refresh token rotation -----------------------------------------------------------------------

-- Exchange a refresh token for its successor, atomically. Outcomes: 'rotated' (the new token is
-- stored), 'reused' (the token was already rotated: the whole family is revoked, as a stolen
-- token's replay looks exactly like this), 'revoked', 'expired', 'disabled' (the user is
-- disabled), 'unknown'. The revocation of a reused family commits even though the exchange fails.
create function private.rotate_refresh_token(
  p_token_hash text, p_new_token_hash text, p_expires_at timestamptz
) returns table (outcome text, user_id uuid, family_id uuid)
language plpgsql security definer
set search_path = ''
as $$
declare
  presented public.refresh_tokens;
  user_disabled boolean;
begin
  select * into presented from public.refresh_tokens where token_hash = p_token_hash for update;
  if not found then
    return query select 'unknown'::text, null::uuid, null::uuid;
    return;
  end if;
  if presented.rotated_at is not null then
    update public.refresh_tokens set revoked_at = now()
      where refresh_tokens.family_id = presented.family_id and revoked_at is null;
    return query select 'reused'::text, presented.user_id, presented.family_id;
    return;
  end if;
  if presented.revoked_at is not null then
    return query select 'revoked'::text, presented.user_id, presented.family_id;
    return;
  end if;
  if presented.expires_at <= now() then
    return query select 'expired'::text, presented.user_id, presented.family_id;
    return;
  end if;
  select disabled_at is not null into user_disabled from public.users where id = presented.user_id;
  if user_disabled then
    return query select 'disabled'::text, presented.user_id, presented.family_id;
    return;
  end if;
  update public.refresh_tokens set rotated_at = now() where id = presented.id;
  insert into public.refresh_tokens (user_id, family_id, token_hash, expires_at)
    values (presented.user_id, presented.family_id, p_new_token_hash, p_expires_at);
  return query select 'rotated'::text, presented.user_id, presented.family_id;
end
$$;
revoke execute on function private.rotate_refresh_token(text, text, timestamptz) from public;
grant execute on function private.rotate_refresh_token(text, text, timestamptz) to service_role;

create function public.rotate_refresh_token(
  p_token_hash text, p_new_token_hash text, p_expires_at timestamptz
) returns table (outcome text, user_id uuid, family_id uuid)
language sql security invoker
set search_path = ''
as $$ select * from private.rotate_refresh_token(p_token_hash, p_new_token_hash, p_expires_at) $$;
revoke execute on function public.rotate_refresh_token(text, text, timestamptz) from public, anon, authenticated;
grant execute on function public.rotate_refresh_token(text, text, timestamptz) to service_role;

-- Password reset -------------------------------------------------------------------------------

-- Spend an unexpired, unused reset token: set the new password hash and revoke every refresh
-- token of the user. Returns the user, or no row.
create function private.reset_password(p_token_hash text, p_password_hash text)
returns table (user_id uuid)
language plpgsql security definer
set search_path = ''
as $$
declare
  owner uuid;
begin
  update public.password_reset_tokens set used_at = now()
    where token_hash = p_token_hash and used_at is null and expires_at > now()
    returning password_reset_tokens.user_id into owner;
  if owner is null then
    return;
  end if;
  update public.users set password_hash = p_password_hash where id = owner;
  update public.refresh_tokens set revoked_at = now()
    where refresh_tokens.user_id = owner and revoked_at is null;
  return query select owner;
end
$$;
revoke execute on function private.reset_password(text, text) from public;
grant execute on function private.reset_password(text, text) to service_role;

create function public.reset_password(p_token_hash text, p_password_hash text)
returns table (user_id uuid)
language sql security invoker
set search_path = ''
as $$ select * from private.reset_password(p_token_hash, p_password_hash) $$;
revoke execute on function public.reset_password(text, text) from public, anon, authenticated;
grant execute on function public.reset_password(text, text) to service_role;

-- Claiming a guest's work ----------------------------------------------------------------------

-- Move a guest session's app projects, projects and prompt handoffs to a user, once per session.
-- Returns how many rows moved (0 when the session was already claimed). A guest project whose v0
-- project the user already mirrors stays with the session rather than breaking the claim.
create function private.claim_guest_session(p_user_id uuid, p_session_id text)
returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  moved integer := 0;
  counted integer;
begin
  insert into public.guest_claims (session_id, user_id) values (p_session_id, p_user_id)
    on conflict (session_id) do nothing;
  if not found then
    return 0;
  end if;
  update public.app_projects set user_id = p_user_id, session_id = null
    where session_id = p_session_id;
  get diagnostics counted = row_count;
  moved := moved + counted;
  update public.projects as guest set user_id = p_user_id, session_id = null
    where guest.session_id = p_session_id
      and not exists (
        select from public.projects as own
        where own.user_id = p_user_id and own.v0_project_id = guest.v0_project_id
      );
  get diagnostics counted = row_count;
  moved := moved + counted;
  update public.prompt_handoffs set user_id = p_user_id, session_id = null
    where session_id = p_session_id;
  get diagnostics counted = row_count;
  return moved + counted;
end
$$;
revoke execute on function private.claim_guest_session(uuid, text) from public;
grant execute on function private.claim_guest_session(uuid, text) to service_role;

create function public.claim_guest_session(p_user_id uuid, p_session_id text)
returns integer
language sql security invoker
set search_path = ''
as $$ select private.claim_guest_session(p_user_id, p_session_id) $$;
revoke execute on function public.claim_guest_session(uuid, text) from public, anon, authenticated;
grant execute on function public.claim_guest_session(uuid, text) to service_role;

-- Mail ------------------------------------------------------------------------------------------

-- Lease up to `p_limit` due messages to one sender: each is pushed a minute into the future and
-- its attempt counted, so a crashed sender's messages come back; concurrent senders never share.
create function private.lease_outbound_email(p_limit integer)
returns setof public.email_outbox
language sql security definer
set search_path = ''
as $$
  update public.email_outbox set attempts = attempts + 1, next_attempt_at = now() + interval '1 minute'
  where id in (
    select id from public.email_outbox
    where status = 'pending' and next_attempt_at <= now()
    order by next_attempt_at
    limit p_limit
    for update skip locked
  )
  returning *
$$;
revoke execute on function private.lease_outbound_email(integer) from public;
grant execute on function private.lease_outbound_email(integer) to service_role;

create function public.lease_outbound_email(p_limit integer)
returns setof public.email_outbox
language sql security invoker
set search_path = ''
as $$ select * from private.lease_outbound_email(p_limit) $$;
revoke execute on function public.lease_outbound_email(integer) from public, anon, authenticated;
grant execute on function public.lease_outbound_email(integer) to service_role;
