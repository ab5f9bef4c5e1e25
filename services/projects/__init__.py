"""Projects: projects, chats, versions, deployments and the rest of a site's data."""
