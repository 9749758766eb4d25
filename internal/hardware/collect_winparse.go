package hardware

// Parsers of Windows structures, kept free of build tags so that they are
// tested on every OS.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// storageDevice is what the Windows collector takes from a
// STORAGE_DEVICE_DESCRIPTOR (IOCTL_STORAGE_QUERY_PROPERTY with
// StorageDeviceProperty).
type storageDevice struct {
	serial    string
	busType   uint32 // STORAGE_BUS_TYPE
	removable bool
}

// STORAGE_BUS_TYPE values of disks that are not physical disks of this
// device.
const (
	busISCSI             = 0x09
	busVirtual           = 0x0E
	busFileBackedVirtual = 0x0F
	busSpaces            = 0x10
	busNVMeOF            = 0x14
)

// physical reports whether d is a fixed disk of this device: not
// removable media, not a network (iSCSI, NVMe over fabrics) or virtual
// (VHD, Storage Spaces) disk.
func (d storageDevice) physical() bool {
	switch d.busType {
	case busISCSI, busVirtual, busFileBackedVirtual, busSpaces, busNVMeOF:
		return false
	}
	return !d.removable
}

// parseStorageDescriptor parses a STORAGE_DEVICE_DESCRIPTOR:
//
//	0  Version, Size               uint32
//	8  DeviceType, DeviceTypeModifier, RemovableMedia, CommandQueueing  byte
//	12 VendorIdOffset, ProductIdOffset, ProductRevisionOffset, SerialNumberOffset  uint32
//	28 BusType                     uint32
//	32 RawPropertiesLength         uint32
//
// Offsets point at NUL-terminated ASCII strings in the same buffer; 0 (or
// an offset past the end) means none.
func parseStorageDescriptor(b []byte) (storageDevice, error) {
	const fixed = 32
	if len(b) < fixed {
		return storageDevice{}, fmt.Errorf("storage descriptor: %d bytes, want at least %d", len(b), fixed)
	}
	if size := binary.LittleEndian.Uint32(b[4:8]); uint64(size) < uint64(len(b)) {
		if size < fixed {
			return storageDevice{}, fmt.Errorf("storage descriptor: size %d, want at least %d", size, fixed)
		}
		b = b[:size]
	}
	d := storageDevice{
		removable: b[10] != 0,
		busType:   binary.LittleEndian.Uint32(b[28:32]),
	}
	if off := binary.LittleEndian.Uint32(b[24:28]); off >= fixed && uint64(off) < uint64(len(b)) {
		s := b[off:]
		if i := bytes.IndexByte(s, 0); i >= 0 {
			s = s[:i]
		}
		d.serial = strings.TrimSpace(string(s))
	}
	return d, nil
}

// parseCPUIdentifier reads family, model and stepping from the Identifier
// value of HKLM\HARDWARE\DESCRIPTION\System\CentralProcessor\0: "Intel64
// Family 6 Model 142 Stepping 10", or on ARM "ARMv8 (64-bit) Family 8
// Model D4B Revision 0" (where the revision stands for the stepping).
func parseCPUIdentifier(s string) (family, model, stepping string) {
	f := strings.Fields(s)
	for i := 0; i+1 < len(f); i++ {
		switch strings.ToLower(f[i]) {
		case "family":
			family = f[i+1]
		case "model":
			model = f[i+1]
		case "stepping", "revision":
			stepping = f[i+1]
		}
	}
	return family, model, stepping
}

// Bits of MIB_IF_ROW2.InterfaceAndOperStatusFlags.
const (
	ifHardwareInterface = 1 << 0
	ifFilterInterface   = 1 << 1
	ifConnectorPresent  = 1 << 2
)

// IANA interface types (ifType) of Ethernet and Wi-Fi cards.
const (
	ifTypeEthernet  = 6
	ifTypeIEEE80211 = 71
)

// physicalIfRow reports whether a MIB_IF_ROW2 describes a physical network
// card: an Ethernet or Wi-Fi interface that Windows flags as hardware with
// a connector present, and not one of the filter interfaces (lightweight
// filters such as QoS or WFP) that repeat a card's address. Hyper-V
// virtual switches, VPN adapters, loopback and tunnels fail these tests.
func physicalIfRow(ifType uint32, flags uint8) bool {
	if ifType != ifTypeEthernet && ifType != ifTypeIEEE80211 {
		return false
	}
	return flags&ifHardwareInterface != 0 && flags&ifConnectorPresent != 0 && flags&ifFilterInterface == 0
}
