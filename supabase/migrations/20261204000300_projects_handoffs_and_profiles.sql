-- Prompt handoffs consumed once, and company profiles whose palette is checked, for the projects
-- service's briefs (SPEC §3).
--
-- Consuming a handoff must mark it exactly once however many requests race for it, so the mark
-- and the answer are one statement: a conditional update (`consumed_at is null`) that only one
-- transaction can win, run as the caller, so row-level security decides whose handoff it is.
-- A palette is stored as jsonb; the projects service validates it, and the same rule is a check
-- constraint here, so a client writing straight to the Data API cannot store junk either.

-- company_profiles: the palette's shape ------------------------------------------------------

-- Only the keys name, primary, secondary and accent, each optional: a name of 1 to 200
-- characters, and colours as hex `#rgb` or `#rrggbb`.
alter table public.company_profiles
  add constraint company_profiles_palette_shape check (
    palette - array['name', 'primary', 'secondary', 'accent'] = '{}'::jsonb
    and (
      not palette ? 'name'
      or (jsonb_typeof(palette -> 'name') = 'string' and length(palette ->> 'name') between 1 and 200)
    )
    and (
      not palette ? 'primary'
      or (jsonb_typeof(palette -> 'primary') = 'string'
          and palette ->> 'primary' ~ '^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$')
    )
    and (
      not palette ? 'secondary'
      or (jsonb_typeof(palette -> 'secondary') = 'string'
          and palette ->> 'secondary' ~ '^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$')
    )
    and (
      not palette ? 'accent'
      or (jsonb_typeof(palette -> 'accent') = 'string'
          and palette ->> 'accent' ~ '^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$')
    )
  );

-- consume_prompt_handoff ----------------------------------------------------------------------

-- Consume one of the caller's prompt handoffs: its prompt, source and app project, and whether
-- it had been consumed before this call. The first call sets consumed_at; racing calls queue on
-- the row's lock and, re-reading it, find it consumed, so exactly one answers
-- already_consumed = false. No row at all when the caller sees no such handoff (another
-- tenant's, or none). An invoker function: it does only what the caller may do for itself
-- (read its handoffs, set their consumed_at).
create function public.consume_prompt_handoff(p_id uuid)
returns table (prompt text, source text, project_id uuid, already_consumed boolean)
language sql volatile security invoker
set search_path = ''
as $$
  with consumed as (
    update public.prompt_handoffs as handoff
      set consumed_at = now()
      where handoff.id = p_id and handoff.consumed_at is null
      returning handoff.id
  )
  select handoff.prompt, handoff.source, handoff.project_id, not exists (select from consumed)
  from public.prompt_handoffs as handoff
  where handoff.id = p_id
$$;
comment on function public.consume_prompt_handoff(uuid) is
  'Owner: projects. Called by: the projects service when the builder opens a handoff (as the user or guest).';
-- Not the service role: it bypasses row-level security, so it would consume anyone's handoff.
revoke execute on function public.consume_prompt_handoff(uuid) from public, service_role;
grant execute on function public.consume_prompt_handoff(uuid) to anon, authenticated;
