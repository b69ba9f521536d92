pub mod chaostoolkit;
pub mod command;
pub mod driver;
pub mod http;
