//! Storage controllers: the [`persistentvolume`] binder that binds claims to volumes (and hands
//! claims to provisioners), and the [`localpath`] provisioner whose volumes are host
//! directories on the node the scheduler picked.

pub mod localpath;
pub mod persistentvolume;
