"""Sub-commands of the ``tfdirectspec`` command line.

Each module has ``add_parser(subparsers)`` and ``run(args) -> exit status``;
:mod:`tfdirectspec.cli` lists them in ``COMMANDS``. Heavy imports
(TensorFlow) happen inside ``run`` so ``--help`` stays fast.
"""
