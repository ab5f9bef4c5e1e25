"""`make bench`: every benchmark, one after the other."""

from bench import (
    analytics,
    auth,
    billing,
    data_planes,
    endpoints,
    generation,
    media,
    rate_limits,
)

data_planes.main()
endpoints.main()
rate_limits.main()
auth.main()
billing.main()
generation.main()
media.main()
analytics.main()
