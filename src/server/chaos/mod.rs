pub mod driver;
pub mod network;
