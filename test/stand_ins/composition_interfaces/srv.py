"""The one service type launch_ros names, refusing to be used: see the package's docstring."""


def _refuse(*args, **kwargs):
    raise RuntimeError("composition_interfaces is an import-only stand-in here: no composable nodes")


class LoadNode:
    __init__ = _refuse
    Request = Response = staticmethod(_refuse)
