-- cosemnet.lua: Wireshark / tshark dissectors shipped with cosemnet (https://pypi.org/project/cosemnet).
--
--   dlmswrapper  IEC 62056-4-7 wrapper (version, source wPort, destination wPort, length) on TCP and
--                UDP ports 4059 and 61616 (TCP frames are reassembled across segments), then
--   dlms         the DLMS/COSEM APDU: its tag by name (AARQ, AARE, RLRQ, RLRE, GET/SET/ACTION
--                requests and responses, event notification, exception response, the glo-/ded-
--                service-specific and general ciphering envelopes), the invoke-id, and the
--                class / OBIS / attribute (or method) of GET, SET and ACTION normal requests;
--   cosemnet_adp the IEC 62056-8-8 adaptation layer of cosemnet (docs/decisions/0012): ADP PDUs in
--                ISO/IEC 14908-1 application messages with code 0x0D (a preference).
--
-- Wireshark's LON dissector (4.0) offers neither a dissector table nor a heuristic list for the
-- application message it carries: it hands the bytes to the "data" dissector. The ADP part is
-- therefore a post-dissector that looks at lon.code and data.data (docs/decisions/0065).
--
-- Other ports: `tshark -d tcp.port==49059,dlmswrapper` (or udp.port), or Decode As in Wireshark.
--
-- Install: `cosemnet wireshark install` (copies this file to ~/.local/lib/wireshark/plugins), or
-- once: `tshark -X lua_script:$(cosemnet wireshark path) -r capture.pcap`.

local TAGS = {
    [0x01] = "initiate-request", [0x05] = "read-request", [0x06] = "write-request",
    [0x08] = "initiate-response", [0x0C] = "read-response", [0x0D] = "write-response",
    [0x0E] = "confirmed-service-error", [0x0F] = "data-notification",
    [0x16] = "unconfirmed-write-request", [0x18] = "information-report-request",
    [0x21] = "glo-initiate-request", [0x25] = "glo-read-request", [0x26] = "glo-write-request",
    [0x28] = "glo-initiate-response", [0x2C] = "glo-read-response", [0x2D] = "glo-write-response",
    [0x2E] = "glo-confirmed-service-error", [0x36] = "glo-unconfirmed-write-request",
    [0x38] = "glo-information-report-request",
    [0x41] = "ded-initiate-request", [0x45] = "ded-read-request", [0x46] = "ded-write-request",
    [0x48] = "ded-initiate-response", [0x4C] = "ded-read-response", [0x4D] = "ded-write-response",
    [0x4E] = "ded-confirmed-service-error", [0x56] = "ded-unconfirmed-write-request",
    [0x58] = "ded-information-report-request",
    [0x60] = "AARQ", [0x61] = "AARE", [0x62] = "RLRQ", [0x63] = "RLRE",
    [0xC0] = "get-request", [0xC1] = "set-request", [0xC2] = "event-notification-request",
    [0xC3] = "action-request", [0xC4] = "get-response", [0xC5] = "set-response",
    [0xC7] = "action-response",
    [0xC8] = "glo-get-request", [0xC9] = "glo-set-request", [0xCA] = "glo-event-notification-request",
    [0xCB] = "glo-action-request", [0xCC] = "glo-get-response", [0xCD] = "glo-set-response",
    [0xCF] = "glo-action-response",
    [0xD0] = "ded-get-request", [0xD1] = "ded-set-request", [0xD2] = "ded-event-notification-request",
    [0xD3] = "ded-action-request", [0xD4] = "ded-get-response", [0xD5] = "ded-set-response",
    [0xD7] = "ded-action-response",
    [0xD8] = "exception-response", [0xD9] = "access-request", [0xDA] = "access-response",
    [0xDB] = "general-glo-ciphering", [0xDC] = "general-ded-ciphering", [0xDD] = "general-ciphering",
    [0xDF] = "general-signing", [0xE0] = "general-block-transfer",
}

local CHOICES = {
    [0xC0] = { [1] = "get-request-normal", [2] = "get-request-next", [3] = "get-request-with-list" },
    [0xC1] = { [1] = "set-request-normal", [2] = "set-request-with-first-datablock",
               [3] = "set-request-with-datablock", [4] = "set-request-with-list",
               [5] = "set-request-with-list-and-first-datablock" },
    [0xC3] = { [1] = "action-request-normal", [2] = "action-request-next-pblock",
               [3] = "action-request-with-list", [4] = "action-request-with-first-pblock",
               [5] = "action-request-with-list-and-first-pblock", [6] = "action-request-with-pblock" },
    [0xC4] = { [1] = "get-response-normal", [2] = "get-response-with-datablock",
               [3] = "get-response-with-list" },
    [0xC5] = { [1] = "set-response-normal", [2] = "set-response-datablock",
               [3] = "set-response-last-datablock", [4] = "set-response-last-datablock-with-list",
               [5] = "set-response-with-list" },
    [0xC7] = { [1] = "action-response-normal", [2] = "action-response-with-pblock",
               [3] = "action-response-with-list", [4] = "action-response-next-pblock" },
}

-- Service-specific ciphered tags: glo- and ded- forms of the xDLMS services (security header follows).
local function is_service_specific_ciphered(tag)
    return (tag >= 0x21 and tag <= 0x38) or (tag >= 0x41 and tag <= 0x58) or (tag >= 0xC8 and tag <= 0xD7)
end

-- ---------------------------------------------------------------------------------------------------
-- DLMS/COSEM APDU

local dlms = Proto("dlms", "DLMS/COSEM APDU")
local pf = {
    tag = ProtoField.uint8("dlms.tag", "Tag", base.HEX, TAGS),
    choice = ProtoField.uint8("dlms.choice", "Choice", base.DEC),
    invoke_id = ProtoField.uint8("dlms.invoke_id", "Invoke-id", base.DEC, nil, 0x0F),
    service_class = ProtoField.uint8("dlms.service_class", "Service class (confirmed)", base.DEC, nil, 0x40),
    priority = ProtoField.uint8("dlms.priority", "Priority (high)", base.DEC, nil, 0x80),
    class_id = ProtoField.uint16("dlms.class_id", "Class id", base.DEC),
    obis = ProtoField.string("dlms.obis", "Logical name (OBIS)"),
    attribute_id = ProtoField.int8("dlms.attribute_id", "Attribute id", base.DEC),
    method_id = ProtoField.int8("dlms.method_id", "Method id", base.DEC),
    access_selection = ProtoField.uint8("dlms.access_selection", "Access selection", base.DEC),
    block_number = ProtoField.uint32("dlms.block_number", "Block number", base.DEC),
    result = ProtoField.uint8("dlms.result", "Result choice (0 data, 1 data-access-result)", base.DEC),
    length = ProtoField.uint32("dlms.length", "Length", base.DEC),
    system_title = ProtoField.bytes("dlms.system_title", "System title"),
    security_control = ProtoField.uint8("dlms.security_control", "Security control", base.HEX),
    invocation_counter = ProtoField.uint32("dlms.invocation_counter", "Invocation counter", base.DEC),
    ciphered = ProtoField.bytes("dlms.ciphered_content", "Ciphered content"),
}
dlms.fields = pf

local function obis_text(range)
    return string.format("%d-%d:%d.%d.%d*%d", range(0, 1):uint(), range(1, 1):uint(), range(2, 1):uint(),
        range(3, 1):uint(), range(4, 1):uint(), range(5, 1):uint())
end

-- A-XDR length: one byte below 0x80, else 0x8N followed by N bytes. Returns value, size (nil if short).
local function axdr_length(tvb, offset)
    if offset >= tvb:len() then return nil end
    local first = tvb(offset, 1):uint()
    if first < 0x80 then return first, 1 end
    local n = first - 0x80
    if n < 1 or n > 4 or offset + 1 + n > tvb:len() then return nil end
    return tvb(offset + 1, n):uint(), 1 + n
end

-- class id, OBIS, attribute / method id of a descriptor at offset; returns the summary text.
local function descriptor(tvb, tree, offset, member_field)
    if offset + 9 > tvb:len() then return nil end
    tree:add(pf.class_id, tvb(offset, 2))
    local obis = obis_text(tvb(offset + 2, 6))
    tree:add(pf.obis, tvb(offset + 2, 6), obis)
    tree:add(member_field, tvb(offset + 8, 1))
    return string.format("%d/%s/%d", tvb(offset, 2):uint(), obis, tvb(offset + 8, 1):int())
end

local function add_invoke_id(tvb, tree, offset)
    tree:add(pf.invoke_id, tvb(offset, 1))
    tree:add(pf.service_class, tvb(offset, 1))
    tree:add(pf.priority, tvb(offset, 1))
    return tvb(offset, 1):uint() % 16
end

-- GET / SET / ACTION requests and responses: choice, invoke-id, and what the normal forms name.
local function dissect_service(tvb, tree, tag)
    if tvb:len() < 3 then return "" end
    local choice = tvb(1, 1):uint()
    local names = CHOICES[tag] or {}
    tree:add(pf.choice, tvb(1, 1)):append_text(" (" .. (names[choice] or "unknown") .. ")")
    local invoke_id = add_invoke_id(tvb, tree, 2)
    local text = string.format(" %s #%d", names[choice] or ("choice " .. choice), invoke_id)
    local what = nil
    if (tag == 0xC0 or tag == 0xC1) and choice == 1 then
        what = descriptor(tvb, tree, 3, pf.attribute_id)
        if what and tvb:len() > 12 then tree:add(pf.access_selection, tvb(12, 1)) end
    elseif tag == 0xC3 and choice == 1 then
        what = descriptor(tvb, tree, 3, pf.method_id)
    elseif tag == 0xC0 and choice == 2 and tvb:len() >= 7 then
        tree:add(pf.block_number, tvb(3, 4))
        what = "block " .. tvb(3, 4):uint()
    elseif tag == 0xC4 and choice == 1 and tvb:len() >= 4 then
        tree:add(pf.result, tvb(3, 1))
        what = tvb(3, 1):uint() == 0 and "data" or "data-access-result"
    end
    if what then text = text .. " " .. what end
    return text
end

-- Ciphered envelopes: security header (and system title for general-glo/-ded).
local function dissect_ciphered(tvb, tree, tag)
    local offset = 1
    if tag == 0xDB or tag == 0xDC then
        local size, n = axdr_length(tvb, offset)
        if not size or offset + n + size > tvb:len() then return "" end
        tree:add(pf.system_title, tvb(offset + n, size))
        offset = offset + n + size
    end
    local length, n = axdr_length(tvb, offset)
    if not length then return "" end
    tree:add(pf.length, tvb(offset, n), length)
    offset = offset + n
    if offset + 5 > tvb:len() then return "" end
    tree:add(pf.security_control, tvb(offset, 1))
    tree:add(pf.invocation_counter, tvb(offset + 1, 4))
    if offset + 5 < tvb:len() then tree:add(pf.ciphered, tvb(offset + 5)) end
    return string.format(" IC=%d", tvb(offset + 1, 4):uint())
end

-- Dissects one APDU; returns the one-line summary (also put in the Info column by the callers).
local function dissect_apdu(tvb, pinfo, tree)
    if tvb:len() < 1 then return "" end
    local subtree = tree:add(dlms, tvb())
    local tag = tvb(0, 1):uint()
    subtree:add(pf.tag, tvb(0, 1))
    local name = TAGS[tag] or string.format("unknown tag 0x%02X", tag)
    local text = name
    if CHOICES[tag] then
        text = dissect_service(tvb, subtree, tag)
        text = text:sub(2)
    elseif tag == 0xDB or tag == 0xDC or is_service_specific_ciphered(tag) then
        text = name .. dissect_ciphered(tvb, subtree, tag)
    end
    subtree:append_text(": " .. text)
    return text
end

-- ---------------------------------------------------------------------------------------------------
-- IEC 62056-4-7 wrapper

local wrapper = Proto("dlmswrapper", "IEC 62056-4-7 DLMS/COSEM wrapper")
local wf = {
    version = ProtoField.uint16("dlmswrapper.version", "Version", base.DEC),
    source = ProtoField.uint16("dlmswrapper.source_wport", "Source wPort", base.DEC),
    destination = ProtoField.uint16("dlmswrapper.destination_wport", "Destination wPort", base.DEC),
    length = ProtoField.uint16("dlmswrapper.length", "Length", base.DEC),
}
wrapper.fields = wf
local WRAPPER_HEADER = 8

local function dissect_wrapper_frame(tvb, pinfo, tree)
    local subtree = tree:add(wrapper, tvb(0, WRAPPER_HEADER))
    subtree:add(wf.version, tvb(0, 2))
    subtree:add(wf.source, tvb(2, 2))
    subtree:add(wf.destination, tvb(4, 2))
    subtree:add(wf.length, tvb(6, 2))
    subtree:append_text(string.format(", wPort %d -> %d, %d bytes", tvb(2, 2):uint(), tvb(4, 2):uint(),
        tvb(6, 2):uint()))
    pinfo.cols.protocol = "DLMS"
    local text = ""
    if tvb:len() > WRAPPER_HEADER then
        text = dissect_apdu(tvb(WRAPPER_HEADER):tvb(), pinfo, tree)
    end
    pinfo.cols.info:append(text .. " ")
    return tvb:len()
end

local function wrapper_pdu_length(tvb, pinfo, offset)
    return WRAPPER_HEADER + tvb(offset + 6, 2):uint()
end

function wrapper.dissector(tvb, pinfo, tree)
    if tvb:len() < 2 or tvb(0, 2):uint() ~= 1 then return 0 end
    pinfo.cols.info:clear()
    if pinfo.port_type == 2 then -- TCP: frames may span segments and several may share one
        dissect_tcp_pdus(tvb, tree, WRAPPER_HEADER, wrapper_pdu_length, dissect_wrapper_frame)
        return tvb:len()
    end
    if tvb:len() < WRAPPER_HEADER then return 0 end
    return dissect_wrapper_frame(tvb, pinfo, tree)
end

for _, port in ipairs({ 4059, 61616 }) do
    DissectorTable.get("tcp.port"):add(port, wrapper)
    DissectorTable.get("udp.port"):add(port, wrapper)
end

-- ---------------------------------------------------------------------------------------------------
-- IEC 62056-8-8 adaptation layer (cosemnet design, docs/decisions/0012)

local SEGMENTATION = { [0] = "unsegmented", [1] = "first", [2] = "middle", [3] = "last" }
local KINDS = { [0] = "DATA", [1] = "SEGMENT_ACK", [2] = "ABORT" }
local DIRECTIONS = { [0] = "client -> server", [1] = "server -> client" }
local ABORT_REASONS = {
    [0] = "unspecified", [1] = "reassembly timeout", [2] = "too long", [3] = "sequence error",
    [4] = "length mismatch", [5] = "resources exhausted", [6] = "lower layer failure",
    [7] = "ack timeout", [8] = "security failure", [9] = "cancelled",
}

local adp = Proto("cosemnet_adp", "IEC 62056-8-8 adaptation layer (cosemnet)")
local af = {
    control = ProtoField.uint8("cosemnet_adp.control", "Control", base.HEX),
    protected = ProtoField.uint8("cosemnet_adp.protected", "Protected", base.DEC, nil, 0x80),
    segmentation = ProtoField.uint8("cosemnet_adp.segmentation", "Segmentation", base.DEC, SEGMENTATION, 0x60),
    direction = ProtoField.uint8("cosemnet_adp.direction", "Direction", base.DEC, DIRECTIONS, 0x10),
    ack_request = ProtoField.uint8("cosemnet_adp.ack_request", "Segment ack requested", base.DEC, nil, 0x08),
    kind = ProtoField.uint8("cosemnet_adp.kind", "Kind", base.DEC, KINDS, 0x07),
    client_sap = ProtoField.uint8("cosemnet_adp.client_sap", "Client SAP", base.HEX),
    server_sap = ProtoField.uint8("cosemnet_adp.server_sap", "Server SAP", base.HEX),
    message_id = ProtoField.uint8("cosemnet_adp.message_id", "Message id", base.DEC),
    total_length = ProtoField.uint16("cosemnet_adp.total_length", "Total length", base.DEC),
    segment_number = ProtoField.uint8("cosemnet_adp.segment_number", "Segment number", base.DEC),
    reason = ProtoField.uint8("cosemnet_adp.reason", "Abort reason", base.DEC, ABORT_REASONS),
    suite_id = ProtoField.uint8("cosemnet_adp.suite_id", "Security suite id", base.DEC),
    payload = ProtoField.bytes("cosemnet_adp.payload", "Payload"),
}
adp.fields = af
adp.prefs.message_code = Pref.uint("14908-1 application message code", 0x0D,
    "Message code of ADP PDUs (cosemnet AdpConfig.message_code, default 0x0D)")

local lon_code_field = Field.new("lon.code")
local data_field = Field.new("data.data")

-- The fixed fields after control and SAPs: returns the offset of the payload (or suite id).
local function adp_kind_fields(tvb, tree, kind, segmentation)
    if kind == 0 and segmentation == 0 then return 3 end
    if tvb:len() < 5 then return nil end
    tree:add(af.message_id, tvb(3, 1))
    if kind == 0 and segmentation == 1 then
        if tvb:len() < 6 then return nil end
        tree:add(af.total_length, tvb(4, 2))
        return 6
    elseif kind == 2 then
        tree:add(af.reason, tvb(4, 1))
    else
        tree:add(af.segment_number, tvb(4, 1))
    end
    return 5
end

local function dissect_adp(tvb, pinfo, tree)
    if tvb:len() < 3 then return end
    local subtree = tree:add(adp, tvb())
    local control = tvb(0, 1):uint()
    local protected = control >= 0x80
    local segmentation = math.floor(control / 32) % 4
    local kind = control % 8
    local item = subtree:add(af.control, tvb(0, 1))
    for _, f in ipairs({ af.protected, af.segmentation, af.direction, af.ack_request, af.kind }) do
        item:add(f, tvb(0, 1))
    end
    subtree:add(af.client_sap, tvb(1, 1))
    subtree:add(af.server_sap, tvb(2, 1))
    local offset = adp_kind_fields(tvb, subtree, kind, segmentation)
    if not offset then return end
    local suite = nil
    if protected and offset < tvb:len() then
        suite = tvb(offset, 1):uint()
        subtree:add(af.suite_id, tvb(offset, 1))
        offset = offset + 1
    end
    local summary = string.format("ADP %s %s", KINDS[kind] or "reserved", SEGMENTATION[segmentation])
    subtree:append_text(": " .. summary)
    pinfo.cols.protocol = "ADP"
    pinfo.cols.info:append(" " .. summary)
    if offset >= tvb:len() then return end
    subtree:add(af.payload, tvb(offset))
    if kind == 0 and segmentation == 0 and (suite == nil or suite == 0) then
        pinfo.cols.protocol = "DLMS"
        pinfo.cols.info:append(" " .. dissect_apdu(tvb(offset):tvb(), pinfo, tree))
    end
end

function adp.dissector(tvb, pinfo, tree)
    local codes = { lon_code_field() }
    local data = { data_field() }
    if #codes == 0 or #data == 0 then return end
    if codes[#codes].value ~= adp.prefs.message_code then return end
    dissect_adp(data[#data].range:tvb(), pinfo, tree)
end

register_postdissector(adp, true)
