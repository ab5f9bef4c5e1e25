-- Uploaded media: a user's media library and the images attached to app projects.
-- Owned by the media service; the stored objects live in object storage, these rows point at them.
-- Applied after the projects service's app projects, which both tables hang off.

-- media_library --------------------------------------------------------------------------------

create table public.media_library (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default private.caller_user_id() references public.users (id) on delete cascade,
  filename text not null,
  original_name text not null,
  file_path text not null,
  blob_url text,
  mime_type text not null,
  file_type text not null,
  size_bytes bigint not null,
  description text,
  tags text[] not null default '{}',
  project_id uuid references public.app_projects (id) on delete set null,
  created_at timestamptz not null default now(),
  constraint media_library_file_type_known check (file_type in ('image', 'video', 'pdf', 'text', 'other')),
  constraint media_library_size_not_negative check (size_bytes >= 0),
  constraint media_library_filename_length check (length(filename) <= 255),
  constraint media_library_original_name_length check (length(original_name) <= 255),
  constraint media_library_file_path_length check (length(file_path) <= 1024),
  constraint media_library_blob_url_length check (length(blob_url) <= 2048),
  constraint media_library_mime_type_length check (length(mime_type) <= 100),
  constraint media_library_description_length check (length(description) <= 2000),
  constraint media_library_tags_length
    check (cardinality(tags) <= 50 and length(array_to_string(tags, '')) <= 2000)
);
comment on table public.media_library is
  'Owner: media service. A user''s uploaded files. Tenancy: user_id; an attached app project must be the '
  'user''s own. Storage columns are written only when the file is stored.';

create index media_library_user_id_created_at_idx on public.media_library (user_id, created_at desc);
create index media_library_project_id_idx on public.media_library (project_id);

alter table public.media_library enable row level security;
revoke all on public.media_library from anon, authenticated, service_role;
grant select, delete on public.media_library to authenticated;
grant insert (user_id, filename, original_name, file_path, blob_url, mime_type, file_type, size_bytes,
              description, tags, project_id)
  on public.media_library to authenticated;
grant update (description, tags, project_id) on public.media_library to authenticated;
grant select, insert, update, delete on public.media_library to service_role;

create policy "users read their own media"
  on public.media_library for select to authenticated
  using (user_id = (select auth.uid()));
create policy "users add media of their own"
  on public.media_library for insert to authenticated
  with check (
    user_id = (select auth.uid())
    and (project_id is null or project_id in (select private.owned_app_project_ids()))
  );
create policy "users describe and attach their own media"
  on public.media_library for update to authenticated
  using (user_id = (select auth.uid()))
  with check (
    user_id = (select auth.uid())
    and (project_id is null or project_id in (select private.owned_app_project_ids()))
  );
create policy "users delete their own media"
  on public.media_library for delete to authenticated
  using (user_id = (select auth.uid()));

-- images ---------------------------------------------------------------------------------------

create table public.images (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references public.app_projects (id) on delete cascade,
  filename text not null,
  file_path text not null,
  original_name text,
  mime_type text,
  size_bytes bigint,
  created_at timestamptz not null default now(),
  constraint images_size_not_negative check (size_bytes >= 0),
  constraint images_filename_length check (length(filename) <= 255),
  constraint images_file_path_length check (length(file_path) <= 1024),
  constraint images_original_name_length check (length(original_name) <= 255),
  constraint images_mime_type_length check (length(mime_type) <= 100)
);
comment on table public.images is
  'Owner: media service. Images uploaded into an app project. Tenancy: through the app project; '
  'uploading needs an account, so guests have no access.';

create index images_project_id_idx on public.images (project_id);

alter table public.images enable row level security;
revoke all on public.images from anon, authenticated, service_role;
grant select, delete on public.images to authenticated;
grant insert (project_id, filename, file_path, original_name, mime_type, size_bytes)
  on public.images to authenticated;
grant select, insert, update, delete on public.images to service_role;

create policy "users read the images of their app projects"
  on public.images for select to authenticated
  using (project_id in (select private.owned_app_project_ids()));
create policy "users add images to their app projects"
  on public.images for insert to authenticated
  with check (project_id in (select private.owned_app_project_ids()));
create policy "users delete the images of their app projects"
  on public.images for delete to authenticated
  using (project_id in (select private.owned_app_project_ids()));
