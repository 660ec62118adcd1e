"""Play data: a scripted player, robomimic-layout HDF5 datasets, hindsight-relabelled windows, collection.

Nothing here imports torch: the data layer (``dataset``, ``windows``) needs only numpy and h5py, and the
player/collector add MuJoCo through ``skill_rl.envs``. Import the submodules directly
(``from skill_rl.play.dataset import read_play_dataset``); this package's import is free.
"""
