-- Stored files whose rows are gone: an outbox owned by the media service. Deleting an image row
-- (by itself, or with its app project through the cascade) queues its stored object here in the
-- same transaction, so a deleted site never leaves an object behind silently and no service calls
-- into media's code. Media's worker leases these rows (attempts, leased_until, as auth's mail
-- outbox does), removes the objects from storage and deletes the rows.

-- storage_deletions ----------------------------------------------------------------------------

create table public.storage_deletions (
  id uuid primary key default gen_random_uuid(),
  -- Which kind of stored file (the table its row was in): 'image' for images.
  kind text not null,
  file_path text not null,
  attempts integer not null default 0,
  leased_until timestamptz,
  created_at timestamptz not null default now(),
  constraint storage_deletions_kind_known check (kind in ('image', 'media')),
  constraint storage_deletions_file_path_length check (length(file_path) between 1 and 1024),
  constraint storage_deletions_attempts_not_negative check (attempts >= 0)
);
comment on table public.storage_deletions is
  'Owner: media service. Stored objects to remove from storage, queued when their rows are deleted '
  '(images: by a trigger, also through the app project cascade); media''s worker leases them '
  '(attempts, leased_until) and deletes each row once its object is gone. '
  'Tenancy: none for clients; only the service role reads or writes it.';

create index storage_deletions_due_idx on public.storage_deletions (created_at)
  include (leased_until);

alter table public.storage_deletions enable row level security;
revoke all on public.storage_deletions from anon, authenticated, service_role;
grant select, insert, update, delete on public.storage_deletions to service_role;

-- Queue the stored object of every deleted image.
create function private.queue_image_storage_deletions()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  insert into public.storage_deletions (kind, file_path)
  select 'image', deleted.file_path from deleted_images as deleted
  where length(deleted.file_path) between 1 and 1024;
  return null;
end
$$;
comment on function private.queue_image_storage_deletions() is
  'Owner: media. Called by: the images_queue_storage_deletions trigger (as its owner).';
revoke execute on function private.queue_image_storage_deletions() from public;

create trigger images_queue_storage_deletions
  after delete on public.images
  referencing old table as deleted_images
  for each statement
  execute function private.queue_image_storage_deletions();
