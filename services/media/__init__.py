"""Media: images, the media library and object storage."""
