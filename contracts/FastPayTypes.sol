// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title FastPayTypes
/// @notice The FastPay structs and EIP-712 type hashes, shared by every contract and mirrored
///         exactly by the Python module `fastpay_protocol.typed_data`.
/// @dev Amounts in transfer orders and batch items are LEDGER UNITS (6 decimals: 1 USDT =
///      1_000_000 whatever the token's on-chain decimals); the vault converts to base units.
library FastPayTypes {
    /// @notice A FastPay transfer order, signed by its sender (EIP-712 type `TransferOrder`).
    struct TransferOrder {
        address sender;
        address recipient;
        address token;
        uint256 amount; // ledger units
        uint64 sequence; // the sender's FastPay sequence number (starts at 0)
        uint64 epoch; // committee epoch that certifies the order
    }

    string internal constant TRANSFER_ORDER_TYPE =
        "TransferOrder(address sender,address recipient,address token,uint256 amount,uint64 sequence,uint64 epoch)";

    bytes32 internal constant TRANSFER_ORDER_TYPEHASH = keccak256(bytes(TRANSFER_ORDER_TYPE));

    /// @dev An authority's vote wraps the order in its own type, so a vote can never be
    ///      mistaken for the sender's signature on the order itself (different digest).
    bytes32 internal constant VOTE_TYPEHASH =
        keccak256(abi.encodePacked("Vote(TransferOrder order)", TRANSFER_ORDER_TYPE));

    /// @dev The committee signs one `Batch` over the packed settlement items (see
    ///      OfflinePaymentProcessor.submitCommitteeBatch): itemsHash = keccak256 of the items
    ///      words, two 32-byte words per item. The batch names the processor that settles it
    ///      and the vault it credits, so it cannot be replayed on a redeployed processor or
    ///      against another (e.g. migrated) vault.
    bytes32 internal constant BATCH_TYPEHASH = keccak256(
        "Batch(uint64 epoch,uint64 batchId,address processor,address vault,bytes32 itemsHash)"
    );

    /// @notice EIP-712 struct hash of a transfer order.
    function hashOrder(TransferOrder calldata order) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                TRANSFER_ORDER_TYPEHASH,
                order.sender,
                order.recipient,
                order.token,
                order.amount,
                order.sequence,
                order.epoch
            )
        );
    }

    /// @notice EIP-712 struct hash of an authority vote for a transfer order.
    function hashVote(TransferOrder calldata order) internal pure returns (bytes32) {
        return keccak256(abi.encode(VOTE_TYPEHASH, hashOrder(order)));
    }

    /// @notice EIP-712 struct hash of a committee-signed settlement batch.
    function hashBatch(uint64 epoch, uint64 batchId, address processor, address vault, bytes32 itemsHash)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(BATCH_TYPEHASH, epoch, batchId, processor, vault, itemsHash));
    }
}
