-- A site's images with their library item's id, in one query: the list used to read the images,
-- then the library items by their paths. A security-invoker view, so both tables' row-level
-- security applies as the caller: the images of the caller's own sites, each with the id of the
-- caller's own library item of the same file (null when that item was deleted by itself).

create view public.site_images with (security_invoker = true) as
  select image.id, image.project_id, image.filename, image.file_path, image.original_name,
         image.mime_type, image.size_bytes, image.created_at,
         (select item.id from public.media_library as item
           where item.file_path = image.file_path
           order by item.created_at
           limit 1) as media_id
  from public.images as image;
comment on view public.site_images is
  'Owner: media service. A site''s images with their library item''s id (media_id). Tenancy: as the caller (security_invoker): images through the caller''s sites, items the caller''s own.';

revoke all on public.site_images from anon, authenticated, service_role;
grant select on public.site_images to authenticated, service_role;
