"""Training, in reading order: ``config`` (options, recipes, the learning-rate schedule) ->
``guard`` (what a run folder may overwrite, ``--resume``/``--force``) -> ``batches`` (the epoch's
shuffled, augmented batches) -> ``state`` (resumable state, weight average, running tallies) ->
``loop`` (:func:`vggdeploy.train.loop.train`) -> ``report`` (history, curves);
``distributed`` holds the rank/world of a ``torchrun`` launch."""
