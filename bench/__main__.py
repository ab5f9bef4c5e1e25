"""`make bench`: every benchmark, one after the other."""

from bench import analytics, auth, billing, data_planes, generation, media, rate_limits

data_planes.main()
rate_limits.main()
auth.main()
billing.main()
generation.main()
media.main()
analytics.main()
