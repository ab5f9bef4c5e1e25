"""Projects: a site's app project and everything generated for it.

Tables (migrations `*_projects_*.sql`): app_projects, project_data, project_files,
company_profiles, prompt_handoffs, projects, chats, versions, deployments, template_cache,
user_audits, guest_claims. SQL functions it exports: `claim_guest_session` (called by auth when a
guest signs up or in). Cache families: `services.projects.cache`.
"""
