"""The parser's C speedups (kubetrail/parse/_speedups.c); the metadata is in pyproject.toml.

`optional`: where no C compiler is found the install goes on without them, and
kubetrail.parse.ecs maps every event in Python: the same documents, at about three quarters
of the speed.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "kubetrail.parse._speedups",
            sources=["kubetrail/parse/_speedups.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
