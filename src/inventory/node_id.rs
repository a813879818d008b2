//! Node identity: a [`NodeId`] names one node of the inventory, and a [`Fleet`] is the
//! one node list every part of the program shares (an `Arc`, cloned, never copied).
//!
//! A node's id is its position in inventory order. A position in a filtered or sorted
//! view is a plain `usize` and never a `NodeId`.

use std::fmt;
use std::ops::{Deref, Index, IndexMut};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Node;

/// One node of the fleet: its index in inventory order. Serialised as that number, as
/// journal lines always spelled it.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(usize);

/// Shown as its index (operator-facing text names nodes by name, never by this).
impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl NodeId {
    /// The node at inventory index `i`.
    pub const fn new(i: usize) -> NodeId {
        NodeId(i)
    }

    /// Its index in inventory order (into the fleet and into per-node lists).
    pub const fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The nodes in inventory order, shared: cloning a `Fleet` clones an `Arc`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fleet(Arc<[Node]>);

impl Fleet {
    pub fn get(&self, id: NodeId) -> Option<&Node> {
        self.0.get(id.index())
    }

    /// The node's name, or `?` for an id outside the fleet.
    pub fn name(&self, id: NodeId) -> &str {
        self.get(id).map_or("?", |n| n.name.as_str())
    }

    /// The node named `name`.
    pub fn find(&self, name: &str) -> Option<NodeId> {
        self.0.iter().position(|n| n.name == name).map(NodeId)
    }

    /// Every node's id, in inventory order.
    pub fn ids(&self) -> impl DoubleEndedIterator<Item = NodeId> + ExactSizeIterator + use<> {
        (0..self.0.len()).map(NodeId)
    }

    /// Ids and nodes, in inventory order.
    pub fn enumerate(&self) -> impl Iterator<Item = (NodeId, &Node)> {
        self.0.iter().enumerate().map(|(i, n)| (NodeId(i), n))
    }
}

impl Fleet {
    /// A fleet known only by its nodes' names (each its own host, of class `node`):
    /// for whatever has names and no inventory, such as a journal's tests.
    pub fn named<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Fleet {
        names
            .into_iter()
            .map(|name| Node::new(name, "node"))
            .collect()
    }
}

impl From<Vec<Node>> for Fleet {
    fn from(nodes: Vec<Node>) -> Fleet {
        Fleet(nodes.into())
    }
}

impl FromIterator<Node> for Fleet {
    fn from_iter<I: IntoIterator<Item = Node>>(it: I) -> Fleet {
        Fleet(it.into_iter().collect())
    }
}

impl PartialEq<Vec<Node>> for Fleet {
    fn eq(&self, other: &Vec<Node>) -> bool {
        *self.0 == **other
    }
}

impl<'a> IntoIterator for &'a Fleet {
    type Item = &'a Node;
    type IntoIter = std::slice::Iter<'a, Node>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Deref for Fleet {
    type Target = [Node];
    fn deref(&self) -> &[Node] {
        &self.0
    }
}

impl Index<NodeId> for Fleet {
    type Output = Node;
    fn index(&self, id: NodeId) -> &Node {
        &self.0[id.index()]
    }
}

impl Serialize for Fleet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// One value per node, indexed by [`NodeId`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PerNode<T>(Vec<T>);

impl<T> Default for PerNode<T> {
    fn default() -> Self {
        PerNode(Vec::new())
    }
}

impl<T> PerNode<T> {
    pub fn get(&self, id: NodeId) -> Option<&T> {
        self.0.get(id.index())
    }

    pub fn get_mut(&mut self, id: NodeId) -> Option<&mut T> {
        self.0.get_mut(id.index())
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.0.iter_mut()
    }

    /// Ids and values, in inventory order.
    pub fn enumerate(&self) -> impl Iterator<Item = (NodeId, &T)> {
        self.0.iter().enumerate().map(|(i, v)| (NodeId(i), v))
    }

    /// Every id, in inventory order.
    pub fn ids(&self) -> impl DoubleEndedIterator<Item = NodeId> + ExactSizeIterator + use<T> {
        (0..self.0.len()).map(NodeId)
    }

    pub fn resize(&mut self, n: usize, value: T)
    where
        T: Clone,
    {
        self.0.resize(n, value);
    }
}

impl<T: PartialEq> PartialEq<Vec<T>> for PerNode<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        self.0 == *other
    }
}

impl<T> FromIterator<T> for PerNode<T> {
    fn from_iter<I: IntoIterator<Item = T>>(it: I) -> Self {
        PerNode(it.into_iter().collect())
    }
}

impl<T> From<Vec<T>> for PerNode<T> {
    fn from(v: Vec<T>) -> Self {
        PerNode(v)
    }
}

/// Read as a slice (its length, iteration, a `&[T]` argument); indexed by [`NodeId`]
/// only.
impl<T> Deref for PerNode<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T> Index<NodeId> for PerNode<T> {
    type Output = T;
    fn index(&self, id: NodeId) -> &T {
        &self.0[id.index()]
    }
}

impl<T> IndexMut<NodeId> for PerNode<T> {
    fn index_mut(&mut self, id: NodeId) -> &mut T {
        &mut self.0[id.index()]
    }
}

impl<'a, T> IntoIterator for &'a PerNode<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'a, T> IntoIterator for &'a mut PerNode<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_id_serialises_as_its_index() {
        let id = NodeId::new(7);
        assert_eq!(serde_json::to_string(&id).ok().as_deref(), Some("7"));
        assert_eq!(serde_json::from_str::<NodeId>("7").ok(), Some(id));
        assert_eq!(id.index(), 7);
        assert_eq!(format!("{:?}", Some(id)), "Some(7)");
    }
}
