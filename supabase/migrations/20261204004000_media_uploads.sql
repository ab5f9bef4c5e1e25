-- Uploads into a user's media library: the per-user quotas (10 images, 3 videos) decided in SQL
-- under a per-user lock, so parallel uploads can never pass them; one call that records an
-- upload (its library row and, for a site, its image) in one transaction; and the `media`
-- bucket with its per-user-folder policies on `storage.objects`, so Supabase Storage lets each
-- user write, read and delete only under `{their id}/`. The object is stored before this call
-- and removed by the service if the call fails, so no row ever points at nothing.

-- Quotas ---------------------------------------------------------------------------------------

-- How many files of a type a user's library may hold; null = no limit.
create function private.media_quota(p_file_type text)
returns integer
language sql immutable
set search_path = ''
as $$
  select case p_file_type when 'image' then 10 when 'video' then 3 end
$$;
comment on function private.media_quota(text) is
  'Owner: media. Called by: private.enforce_media_quota and public.media_usage (as the caller).';
revoke execute on function private.media_quota(text) from public;
grant execute on function private.media_quota(text) to authenticated, service_role;

-- Refuse a library row past its type's quota. The user's uploads queue on a transaction lock of
-- their own, and the count runs after it is granted (a fresh snapshot per statement), so of any
-- number of parallel inserts exactly as many pass as the quota has room for. An invoker
-- function: it counts only the user's own rows, which the caller may read.
create function private.enforce_media_quota()
returns trigger
language plpgsql security invoker
set search_path = ''
as $$
declare
  v_quota integer := private.media_quota(new.file_type);
  v_count bigint;
begin
  if v_quota is null then
    return new;
  end if;
  perform pg_catalog.pg_advisory_xact_lock(
    pg_catalog.hashtextextended('media_library quota ' || new.user_id::text, 0)
  );
  select count(*) into v_count
  from public.media_library
  where user_id = new.user_id and file_type = new.file_type;
  if v_count >= v_quota then
    raise exception using errcode = 'PT409', message = 'quota_exceeded';
  end if;
  return new;
end
$$;
comment on function private.enforce_media_quota() is
  'Owner: media. Called by: the media_library_enforce_quota trigger (as the inserting caller).';
revoke execute on function private.enforce_media_quota() from public;
grant execute on function private.enforce_media_quota() to authenticated, service_role;

create trigger media_library_enforce_quota
  before insert on public.media_library
  for each row
  execute function private.enforce_media_quota();

-- The caller's files per type with the quota of each (null = unlimited): every type a library
-- may hold, counted from the caller's own rows (row-level security).
create function public.media_usage()
returns table (file_type text, used bigint, quota integer)
language sql stable security invoker
set search_path = ''
as $$
  select kind.file_type, count(media.id), private.media_quota(kind.file_type)
  from unnest(array['image', 'video', 'pdf', 'text']) as kind (file_type)
  left join public.media_library as media
    on media.file_type = kind.file_type and media.user_id = (select private.caller_user_id())
  group by kind.file_type
  order by kind.file_type
$$;
comment on function public.media_usage() is
  'Owner: media. Called by: the media service (uploads, library) as the user.';
revoke execute on function public.media_usage() from public, anon, service_role;
grant execute on function public.media_usage() to authenticated;

-- Uploads --------------------------------------------------------------------------------------

-- Record a stored upload as the caller's library item (`p_tags` a JSON array of strings) and, with `p_project_id`, as one of the
-- images of that site; both or neither. Raises PT409 'project_not_found' for a site that is not
-- the caller's and PT409 'quota_exceeded' (from the trigger) past the quota. Returns the
-- library row. An invoker function: it does only what the user may do with two inserts.
create function public.record_media_upload(
  p_filename text,
  p_original_name text,
  p_file_path text,
  p_mime_type text,
  p_file_type text,
  p_size_bytes bigint,
  p_description text default null,
  p_tags jsonb default '[]',
  p_project_id uuid default null
)
returns setof public.media_library
language plpgsql security invoker
set search_path = ''
as $$
declare
  v_item public.media_library;
begin
  if p_project_id is not null and not exists (
    select from public.app_projects as project
    where project.id = p_project_id and project.user_id = (select private.caller_user_id())
  ) then
    raise exception using errcode = 'PT409', message = 'project_not_found';
  end if;

  insert into public.media_library (
    filename, original_name, file_path, mime_type, file_type, size_bytes, description, tags,
    project_id
  )
  values (
    p_filename, p_original_name, p_file_path, p_mime_type, p_file_type, p_size_bytes,
    p_description,
    array(select pg_catalog.jsonb_array_elements_text(coalesce(p_tags, '[]'))), p_project_id
  )
  returning * into v_item;

  if p_project_id is not null then
    insert into public.images (project_id, filename, file_path, original_name, mime_type, size_bytes)
    values (p_project_id, p_filename, p_file_path, p_original_name, p_mime_type, p_size_bytes);
  end if;
  return next v_item;
end
$$;
comment on function public.record_media_upload(
  text, text, text, text, text, bigint, text, jsonb, uuid
) is 'Owner: media. Called by: the media service''s uploads, as the user.';
revoke execute on function public.record_media_upload(
  text, text, text, text, text, bigint, text, jsonb, uuid
) from public, anon, service_role;
grant execute on function public.record_media_upload(
  text, text, text, text, text, bigint, text, jsonb, uuid
) to authenticated;

-- Storage: the bucket and its policies ---------------------------------------------------------

-- Private: objects are served through the media service (or signed URLs), never publicly.
insert into storage.buckets (id, name, public)
values ('media', 'media', false)
on conflict (id) do nothing;

create policy "users store media in their own folder"
  on storage.objects for insert to authenticated
  with check (
    bucket_id = 'media' and (storage.foldername(name))[1] = (select auth.uid()::text)
  );
create policy "users read media in their own folder"
  on storage.objects for select to authenticated
  using (bucket_id = 'media' and (storage.foldername(name))[1] = (select auth.uid()::text));
create policy "users delete media in their own folder"
  on storage.objects for delete to authenticated
  using (bucket_id = 'media' and (storage.foldername(name))[1] = (select auth.uid()::text));
