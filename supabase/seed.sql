-- Demo data for local development (`sajtmaskin db reset`): two verified users, a guest session
-- and a few projects. Both users sign in with the password `sajtmaskin-demo`.
-- Balances go through the ledger, so diamonds always equal the sum of each user's transactions.

insert into public.users (id, email, password_hash, name, provider, email_verified, diamonds, tier) values
  ('00000000-0000-4000-8000-00000000a11c', 'alice@example.com',
   '$argon2id$v=19$m=65536,t=3,p=4$svDgdNmYkarSzLzUioDR+Q$MdDopjeqRLpQL8n4HrpxKhNZXV6it2O81UD9VpoXo4s',
   'Alice Andersson', 'email', true, 60, 'pro'),
  ('00000000-0000-4000-8000-000000000b0b', 'bob@example.com',
   '$argon2id$v=19$m=65536,t=3,p=4$svDgdNmYkarSzLzUioDR+Q$MdDopjeqRLpQL8n4HrpxKhNZXV6it2O81UD9VpoXo4s',
   'Bob Berg', 'email', true, 50, 'free');

insert into public.transactions (user_id, type, amount, balance_after, description, created_at) values
  ('00000000-0000-4000-8000-00000000a11c', 'signup_bonus', 50, 50, 'Välkomstbonus', now() - interval '3 days'),
  ('00000000-0000-4000-8000-00000000a11c', 'purchase', 10, 60, 'Köp: credits_10', now() - interval '2 days'),
  ('00000000-0000-4000-8000-000000000b0b', 'signup_bonus', 50, 50, 'Välkomstbonus', now() - interval '1 day');

insert into public.guest_usage (session_id, generations_used, refines_used) values
  ('sess_00000000-0000-4000-8000-0000000005e5', 1, 0);

insert into public.app_projects (id, user_id, session_id, name, category, description) values
  ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-00000000a11c', null,
   'Bageriet på hörnet', 'restaurant', 'A neighbourhood bakery with online orders'),
  ('00000000-0000-4000-8000-0000000000a2', '00000000-0000-4000-8000-00000000a11c', null,
   'Portfolio', 'portfolio', null),
  ('00000000-0000-4000-8000-0000000000b1', '00000000-0000-4000-8000-000000000b0b', null,
   'Bobs cykelverkstad', 'services', 'Bicycle repairs in Malmö'),
  ('00000000-0000-4000-8000-0000000000c1', null, 'sess_00000000-0000-4000-8000-0000000005e5',
   'Min första sajt', null, null);

insert into public.project_data (project_id, chat_id, demo_url, meta) values
  ('00000000-0000-4000-8000-0000000000a1', 'chat_demo_bakery', 'https://demo.example.com/bakery',
   '{"template": "restaurant"}');

insert into public.company_profiles (project_id, company_name, industry, location, palette) values
  ('00000000-0000-4000-8000-0000000000a1', 'Bageriet på hörnet AB', 'bakery', 'Göteborg',
   '{"name": "Vete", "primary": "#8b5e34", "secondary": "#f3e9dc", "accent": "#c08552"}');

insert into public.projects (id, user_id, session_id, v0_project_id, name) values
  ('00000000-0000-4000-8000-0000000001a1', '00000000-0000-4000-8000-00000000a11c', null,
   'v0_prj_demo_bakery', 'Bageriet på hörnet'),
  ('00000000-0000-4000-8000-0000000001c1', null, 'sess_00000000-0000-4000-8000-0000000005e5',
   'v0_prj_demo_guest', 'Min första sajt');

insert into public.chats (id, project_id, v0_chat_id, v0_project_id, web_url) values
  ('00000000-0000-4000-8000-0000000002a1', '00000000-0000-4000-8000-0000000001a1', 'chat_demo_bakery',
   'v0_prj_demo_bakery', 'https://v0.app/chat/chat_demo_bakery');

insert into public.versions (chat_id, v0_version_id, demo_url, pinned, pinned_at) values
  ('00000000-0000-4000-8000-0000000002a1', 'ver_demo_1', 'https://demo.example.com/bakery', true, now());
