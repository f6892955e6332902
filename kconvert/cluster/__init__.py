"""Batch mode beyond one machine: each model a task of a Ray cluster (``--cluster ADDRESS``).

:mod:`~kconvert.cluster.ray_batch` submits the tasks and collects them (the only module that
imports Ray), :mod:`~kconvert.cluster.worker` is what a task does (local batch mode on one model),
and :mod:`~kconvert.cluster.shipping` moves files to and from nodes that do not share the driver's.
"""
