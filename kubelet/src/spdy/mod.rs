//! SPDY/3.1, as far as Kubernetes' streaming protocols speak it: the kubelet serves it to
//! `kubectl port-forward` ([`crate::server::portforward`]) and speaks it as a client to the
//! runtime's streaming server for exec and attach with stdin
//! ([`crate::runtime::cri::spdy`]). [`frame`] is the wire format, [`headers`] the name/value
//! blocks and their zlib compression (with the SPDY/3 dictionary, or stored uncompressed), and
//! [`session`] one session over a connection: streams either side opens, replies, data,
//! half-close with `FIN`, resets and pings.

pub mod frame;
pub mod headers;
pub mod session;
