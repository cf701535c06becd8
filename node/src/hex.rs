//! Hex text for keys in config files and the admin API: commonware's one implementation
//! (`commonware_formatting`), under the names the node uses.

pub use commonware_formatting::{from_hex as decode, hex as encode};

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        assert_eq!(super::encode(&[0, 171, 255]), "00abff");
        assert_eq!(super::decode(" 00abff\n"), Some(vec![0, 171, 255]));
        assert_eq!(super::decode("0"), None);
        assert_eq!(super::decode("zz"), None);
        assert_eq!(super::decode("éé"), None);
    }
}
