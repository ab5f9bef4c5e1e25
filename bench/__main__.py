"""`make bench`: every benchmark, one after the other."""

from bench import data_planes

data_planes.main()
