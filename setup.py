"""The C speedups; the metadata is in pyproject.toml.

- kubetrail/parse/_speedups.c: the ECS mapping of the usual audit event;
- kubetrail/store/clickhouse/_flatten.c: a document flattened into the ClickHouse table's
  pairs and columns;
- kubetrail/store/clickhouse/_native.c: the ClickHouse table's rows written as a Native block.

`optional`: where no C compiler is found the install goes on without them, and the Python
code does the same work (kubetrail.parse.ecs at about three quarters of the speed,
kubetrail.store.clickhouse.schema.flatten at about a third, and clickhouse-driver writes the
blocks itself).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "kubetrail.parse._speedups",
            sources=["kubetrail/parse/_speedups.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "kubetrail.store.clickhouse._flatten",
            sources=["kubetrail/store/clickhouse/_flatten.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "kubetrail.store.clickhouse._native",
            sources=["kubetrail/store/clickhouse/_native.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
    ]
)
