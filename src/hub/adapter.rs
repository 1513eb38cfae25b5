//! The seam between this node's hub and other nodes.
//!
//! The hub delivers every broadcast to its local sessions and hands it to its [`Adapter`], which
//! forwards it to other nodes; an adapter that receives a broadcast from another node gives it to
//! [`Hub::deliver_local`](super::Hub::deliver_local). Protocols never see the adapter.

use std::sync::Arc;

use super::{Hub, Message, Target};

/// Carries broadcasts between nodes of a cluster.
pub(crate) trait Adapter: Send + Sync + 'static {
    /// A short name for stats and logs (`"local"`, `"redis"`).
    fn name(&self) -> &'static str;

    /// Called once when the hub starts, with a handle to deliver what other nodes send.
    fn start(&self, hub: Hub) {
        let _ = hub;
    }

    /// Forwards a broadcast that originated on this node to the other nodes.
    fn forward(&self, target: &Target, message: &Arc<Message>);

    /// Forwards a broadcast of this node whose offset the cluster gives (a streams cluster with
    /// recovery on): the adapter delivers it to this node's sessions once it has the offset
    /// (or at once, without one, when the cluster cannot take it). False: this adapter gives
    /// no offsets, and the hub delivers and forwards as usual.
    fn forward_for_offset(&self, target: &Target, message: &Arc<Message>) -> bool {
        let _ = (target, message);
        false
    }

    /// A room of `/` got its first member on this node, or lost its last (a sharded cluster
    /// subscribes to its channel, or leaves it).
    fn room_changed(&self, room: &str) {
        let _ = room;
    }

    /// A socket of `/` arrived on this node or left it (a sharded cluster in `dynamic-private`
    /// mode subscribes to its id's channel).
    fn socket_changed(&self, id: &str) {
        let _ = id;
    }

    /// The Redis cluster link, for requests to the other nodes (`None`: no cluster).
    fn cluster(&self) -> Option<&crate::cluster::RedisAdapter> {
        None
    }

    /// The state of the link to the other nodes, for stats (`None`: no cluster).
    fn stats(&self) -> Option<super::ClusterStats> {
        None
    }
}

/// The single-node adapter: nothing to forward.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LocalAdapter;

impl Adapter for LocalAdapter {
    fn name(&self) -> &'static str {
        "local"
    }

    fn forward(&self, _target: &Target, _message: &Arc<Message>) {}
}
